"""The run directory: a fresh folder per run, and files written atomically into it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiforge.errors import AIForgeError

CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
PREPROCESSOR_FILE = "preprocessor.safetensors"
LABELS_FILE = "label_mapping.json"
HISTORY_FILE = "metrics.csv"
RESULTS_FILE = "final_results.json"
FINAL_MODEL_FILE = "final_model.pt"
LOG_FILE = "aiforge_debug.log"
CHECKPOINT_DIR = "checkpoints"


def create_run_dir(results_root: Path, experiment_name: str) -> Path:
    """``<root>/<experiment>/<timestamp>-<id>/``, new for every run, never reused."""
    experiment_dir = (results_root / experiment_name).resolve()
    if results_root.resolve() not in experiment_dir.parents:
        raise AIForgeError(f"experiment_name {experiment_name!r} would leave the results folder")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        experiment_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            run_dir = experiment_dir / f"{stamp}-{secrets.token_hex(3)}"
            with contextlib.suppress(FileExistsError):
                run_dir.mkdir()
                (run_dir / CHECKPOINT_DIR).mkdir()
                return run_dir
    except OSError as err:
        raise AIForgeError(f"cannot create a run folder under {experiment_dir}: {err}") from None
    raise AIForgeError(f"could not create a new run folder under {experiment_dir}")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and rename it into place.

    A crash leaves either the old file or the new one, never half of one.
    """
    target = Path(path)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` of tensors and plain values only, so ``weights_only=True`` loads it."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely: ``weights_only=True``, never unpickling arbitrary objects."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)
