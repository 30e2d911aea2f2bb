"""Which process may write files and talk to trackers: the one place rank is decided."""

from __future__ import annotations

import os


def is_main_process() -> bool:
    """True in a single-process run, and on global rank 0 under torchrun."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return os.environ.get("RANK", "0") == "0"
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"
