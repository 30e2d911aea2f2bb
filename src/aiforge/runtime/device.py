"""Choosing the torch device from the DEVICE setting."""

from __future__ import annotations

import torch

from aiforge.config.settings import given
from aiforge.errors import ConfigError


def resolve_device(setting: str = "auto", source: str = "AIFORGE_DEVICE") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist. ``source`` is what
    set it (``--device`` or ``AIFORGE_DEVICE``), for the message."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{given(source, setting)} but CUDA is not available; use cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{given(source, setting)} but MPS is not available; use cpu or auto")
    return device
