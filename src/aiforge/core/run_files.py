"""The run directory: a fresh folder per run, and files written atomically into it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
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


RUN_MARKERS = (RESULTS_FILE, ENVIRONMENT_FILE, LOG_FILE)
"""Beside ``config.yaml``, any of these makes a folder a run folder: every run writes its
environment and debug log when it starts. ``checkpoints/`` alone is not a marker (too common)."""


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder that ``aiforge run`` made (its records are data, never outputs)."""
    folder = Path(path)
    return (folder / CONFIG_FILE).is_file() and any((folder / name).exists() for name in RUN_MARKERS)


def enclosing_run_folder(path: str | Path) -> Path | None:
    """The run folder that holds ``path`` (or is ``path``), after resolving symlinks; else None."""
    resolved = Path(os.path.realpath(Path(path).expanduser()))
    for folder in (resolved, *resolved.parents):
        if is_run_folder(folder):
            return folder
    return None


def locate_run_dir(path: str | Path, results_dir: str | Path | None = None) -> Path:
    """The folder a command's RUN_DIR argument names: as given, else relative to the results folder.

    The one rule for evaluate, predict, export, report, compare and ``run --resume``; each
    command then checks what it needs in the folder. A path that names no folder is returned
    as given (not resolved), for the caller's message.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        return given.resolve()
    if results_dir is not None and not given.is_absolute() and (Path(results_dir) / given).is_dir():
        return (Path(results_dir) / given).resolve()
    return given


class LinkedRunFileError(AIForgeError):
    """A file or folder of a run that AIForge would write is a symbolic link: it is not written through."""


def refuse_linked_folder(folder: Path) -> None:
    """Writes into a run folder never go through a linked folder (``checkpoints`` -> elsewhere)."""
    if folder.is_symlink():
        raise LinkedRunFileError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}); AIForge does not write run files "
            "through links. Replace it with a real folder (or move the run) and try again"
        )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class RunFileError(OSError):
    """A run file could not be written (full disk, no permission); the file it would replace is intact."""


@contextlib.contextmanager
def atomic_path(
    path: str | Path, keep_previous: str | Path | None = None, durable: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and rename it into place.

    A crash leaves either the old file or the new one, never half of one. With
    ``keep_previous``, the old file is renamed there first, so the last two versions survive.
    ``durable=False`` skips the fsyncs: still whole after a killed process, but a power cut may
    lose the newest version (for files rebuilt on resume, such as ``metrics.csv``).
    """
    target = Path(path)
    refuse_linked_folder(target.parent)
    try:  # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW: never an existing file or a link
        handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise RunFileError(f"cannot write {target}: {err.strerror or err}") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            if durable:
                written = os.open(tmp, os.O_RDONLY | _NOFOLLOW)
                try:
                    os.fsync(written)
                finally:
                    os.close(written)
        except OSError as err:
            raise RunFileError(_write_failure(target, err)) from err
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        if keep_previous is not None and (target.exists() or target.is_symlink()):
            os.replace(target, keep_previous)
        os.replace(tmp, target)  # over a symlink, this replaces the link, never its target
        if durable:
            _fsync_directory(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _write_failure(target: Path, err: BaseException) -> str:
    try:
        free = f" ({shutil.disk_usage(target.parent).free / 2**20:.0f} MiB free on that disk)"
    except OSError:  # the folder itself is gone
        free = ""
    kept = f"; the existing {target.name} is intact" if target.exists() else ""
    return f"cannot write {target}: {err}{free}{kept}"


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable across a power cut, where the platform allows it."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_text(path: str | Path, text: str, durable: bool = True) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_text(path: str | Path, text: str) -> None:
    """Add ``text`` at the end of a file in one write: a killed process leaves whole lines.

    Plain ``os`` calls: this runs after every epoch, and a file object costs several times more.
    """
    target = Path(path)
    data = text.encode("utf-8")
    refuse_linked_folder(target.parent)
    try:
        handle = open_for_append(target)
        try:
            written = os.write(handle, data)
        finally:
            os.close(handle)
        if written != len(data):
            raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes were written")
    except OSError as err:
        raise RunFileError(_write_failure(target, err)) from err


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_for_append(path: Path) -> int:
    """A descriptor to append to ``path``, never through a symlink (a LinkedRunFileError instead)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666)
    except OSError as err:
        if path.is_symlink():  # ELOOP on Linux, EMLINK or EFTYPE elsewhere
            raise LinkedRunFileError(
                f"{path} is a symbolic link (to {os.readlink(path)}); AIForge does not append to a "
                "file through a link. Remove the link and try again"
            ) from None
        raise err


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def save_state(path: str | Path, state: dict[str, Any], keep_previous: str | Path | None = None) -> None:
    """``torch.save`` of tensors and plain values only, so ``weights_only=True`` loads it."""
    import torch

    with atomic_path(path, keep_previous) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as err:  # how torch.save reports a full disk or a file size limit
            raise OSError(errno.EIO, f"torch.save failed: {err}") from err


def load_state(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely: ``weights_only=True``, never unpickling arbitrary objects."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)
