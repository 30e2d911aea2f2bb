"""The environment record of a run: what produced these results."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

_PACKAGES = ("aiforge", "torch", "numpy", "pydantic", "torchmetrics", "scikit-learn", "pandas")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the working directory's repository, when there is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment_record(seed: int, device: str) -> dict[str, Any]:
    import torch

    return {
        "created": datetime.now(timezone.utc).isoformat(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "argv": sys.argv,
        "seed": seed,
        "device": device,
        "cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "packages": {name: _version(name) for name in _PACKAGES},
    }
