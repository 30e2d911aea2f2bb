"""Choosing the torch device from the DEVICE setting."""

from __future__ import annotations

import torch

from aiforge.errors import ConfigError


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"AIFORGE_DEVICE={setting} but CUDA is not available; use cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"AIFORGE_DEVICE={setting} but MPS is not available; use cpu or auto")
    return device
