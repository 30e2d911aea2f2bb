"""The run directory: a fresh folder per run, and files written atomically into it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiforge.errors import AIForgeError, LinkedRunFileError, RunFileError

CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
PREPROCESSOR_FILE = "preprocessor.safetensors"
# The fitted state's JSON values (vocabularies, column kinds, settings), to read; never read back.
PREPROCESSOR_JSON_FILE = "preprocessor.json"
LABELS_FILE = "label_mapping.json"
HISTORY_FILE = "metrics.csv"
RESULTS_FILE = "final_results.json"
FINAL_MODEL_FILE = "final_model.pt"
LOG_FILE = "aiforge_debug.log"
CHECKPOINT_DIR = "checkpoints"
# The tracking backends' own files in the run folder (tracking.backends): TensorBoard's event
# files (``tensorboard --logdir results/`` finds every run's), the CSV tracker's flat file, W&B's folder.
TENSORBOARD_DIR = "tensorboard"
CSV_TRACKING_DIR = "csv"
CSV_TRACKING_FILE = "metrics.csv"  # in CSV_TRACKING_DIR: steps and epochs, not the run's own metrics.csv
WANDB_DIR = "wandb"
# The files in CHECKPOINT_DIR; what they hold is training/checkpoint.py's (runs/ sits below it and
# needs the names too: placement and resume look for a checkpoint without reading one).
LAST_CHECKPOINT = "last.pt"  # the newest full training state
PREVIOUS_CHECKPOINT = "previous.pt"  # the one before it, a fallback when last.pt is damaged
BEST_CHECKPOINT = "best.pt"  # the best weights by the monitored metric
CHECKPOINT_NAMES = (LAST_CHECKPOINT, PREVIOUS_CHECKPOINT)  # the ones a resume reads, newest first


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


def real_path(path: str | Path) -> Path:
    """``path`` with ``~`` expanded and every symlink resolved: where a write would really land."""
    return Path(os.path.realpath(Path(path).expanduser()))


def enclosing_run_folder(path: str | Path) -> Path | None:
    """The run folder that holds ``path`` (or is ``path``), after resolving symlinks; else None."""
    resolved = real_path(path)
    for folder in (resolved, *resolved.parents):
        if is_run_folder(folder):
            return folder
    return None


@dataclass(frozen=True)
class RunDirLookup:
    """What :func:`find_run_dir` found; each command words its own message from it.

    ``problem``: ``""`` (a folder with every needed file), ``"missing"`` (no such folder),
    ``"file"`` (the path given is a file) or ``"lacks"`` (a folder without ``missing`` files).
    """

    given: Path
    path: Path
    looked: tuple[Path, ...]
    problem: str = ""
    missing: tuple[str, ...] = ()


def find_run_dir(
    path: str | Path, results_dir: str | Path | None = None, need: tuple[str, ...] = (CONFIG_FILE,)
) -> RunDirLookup:
    """The one lookup of a command's RUN_DIR argument (evaluate, predict, export, report, compare
    and ``run --resume``): the folder as given, else relative to the results folder, resolved;
    with which of the ``need`` files it lacks."""
    given = Path(path).expanduser()
    relative = results_dir is not None and not given.is_absolute()
    looked = (given, *((Path(results_dir) / given,) if relative else ()))  # type: ignore[arg-type]
    folder = next((candidate for candidate in looked if candidate.is_dir()), None)
    if folder is None:
        return RunDirLookup(given, given, looked, "file" if given.is_file() else "missing")
    found = folder.resolve()
    missing = tuple(name for name in need if not (found / name).is_file())
    return RunDirLookup(given, found, looked, "lacks" if missing else "", missing)


def locate_run_dir(path: str | Path, results_dir: str | Path | None = None) -> Path:
    """The folder a command's RUN_DIR argument names (:func:`find_run_dir`); a path that names
    no folder is returned as given (not resolved), for the caller's message."""
    return find_run_dir(path, results_dir, need=()).path


def linked_file_error(path: Path, refusal: str, fix: str) -> LinkedRunFileError:
    """The one message for a symlink where a run file or folder should be: what it links to,
    why AIForge stops, what to do."""
    try:
        to = f" (to {os.readlink(path)})"
    except OSError:  # gone or replaced meanwhile
        to = ""
    return LinkedRunFileError(f"{path} is a symbolic link{to}; {refusal}. {fix}")


def _linked_folder_error(folder: Path) -> LinkedRunFileError:
    return linked_file_error(
        folder,
        "AIForge does not write run files through links",
        "Replace it with a real folder (or move the run) and try again",
    )


def refuse_linked_folder(folder: Path) -> None:
    """Writes into a run folder never go through a linked folder (``checkpoints`` -> elsewhere).

    A check before the write: the writes themselves (:func:`atomic_path`, :func:`open_for_append`)
    open the folder without following a link and work inside what they opened.
    """
    if folder.is_symlink():
        raise _linked_folder_error(folder)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_PROC_FD = "/proc/self/fd"


def _open_folder(folder: Path) -> int:
    """A descriptor of ``folder`` itself, opened without following it if it is a link.

    Files are then created, renamed and removed relative to it, so a link swapped in for the
    folder afterwards changes nothing. Folders above it are followed (a run folder may live
    under a linked home): the guard is for the folder AIForge writes into, not its parents.
    Raises LinkedRunFileError for a linked folder, OSError when it cannot be opened.
    """
    try:
        return os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
    except OSError:
        if folder.is_symlink():  # ELOOP or ENOTDIR, by platform
            raise _linked_folder_error(folder) from None
        raise


def _path_in(descriptor: int, folder: Path, name: str) -> Path:
    """A path to ``name`` in the opened folder, for writers that take a path (torch.save,
    safetensors): through ``/proc/self/fd`` where there is one (Linux), so it reaches the folder
    that was opened whatever replaces it meanwhile; elsewhere the folder's path."""
    through = f"{_PROC_FD}/{descriptor}"
    return Path(through, name) if os.path.isdir(through) else folder / name


@contextlib.contextmanager
def atomic_path(
    path: str | Path, keep_previous: str | Path | None = None, durable: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and rename it into place.

    The folder is opened once, without following it if it is a link, and the temp file is
    created, renamed and removed relative to that descriptor (its yielded path goes through
    ``/proc/self/fd`` on Linux): a link swapped in for the folder meanwhile is not followed.

    A crash leaves either the old file or the new one, never half of one. With
    ``keep_previous``, the old file is renamed there first, so the last two versions survive.
    ``durable=False`` skips the fsyncs: still whole after a killed process, but a power cut may
    lose the newest version (for files rebuilt on resume, such as ``metrics.csv``).
    """
    target = Path(path)
    folder = target.parent
    previous = None if keep_previous is None else Path(keep_previous)
    if previous is not None and previous.parent != folder:
        raise ValueError(f"keep_previous {previous} must be beside {target}")
    try:
        descriptor = _open_folder(folder)
    except OSError as err:
        raise RunFileError(f"cannot write {target}: {err.strerror or err}") from None
    try:
        name = _create_temp(descriptor, target)
        try:
            try:
                yield _path_in(descriptor, folder, name)
                if durable:
                    written = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=descriptor)
                    try:
                        os.fsync(written)
                    finally:
                        os.close(written)
            except OSError as err:
                raise RunFileError(_write_failure(target, err)) from err
            if previous is not None and _exists_in(descriptor, target.name):
                os.replace(target.name, previous.name, src_dir_fd=descriptor, dst_dir_fd=descriptor)
            # over a symlink, this replaces the link, never its target
            os.replace(name, target.name, src_dir_fd=descriptor, dst_dir_fd=descriptor)
            if durable:
                with contextlib.suppress(OSError):  # makes the rename survive a power cut, where it can
                    os.fsync(descriptor)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=descriptor)
    finally:
        os.close(descriptor)


def _create_temp(descriptor: int, target: Path) -> str:
    """A new, empty ``.<name>.<random>.tmp`` in the opened folder: never an existing file or a link.

    Created readable as the umask allows (results are meant to be shared), as ``target`` would be.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    for _ in range(100):
        name = f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(name, flags, 0o666, dir_fd=descriptor))
            return name
        except FileExistsError:
            continue
        except OSError as err:
            raise RunFileError(f"cannot write {target}: {err.strerror or err}") from None
    raise RunFileError(f"cannot write {target}: no free temporary file name beside it")


def _exists_in(descriptor: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=descriptor, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _write_failure(target: Path, err: BaseException) -> str:
    try:
        free = f" ({shutil.disk_usage(target.parent).free / 2**20:.0f} MiB free on that disk)"
    except OSError:  # the folder itself is gone
        free = ""
    kept = f"; the existing {target.name} is intact" if target.exists() else ""
    return f"cannot write {target}: {err}{free}{kept}"


def write_text(path: str | Path, text: str, durable: bool = True) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_text(path: str | Path, text: str) -> None:
    """Add ``text`` at the end of a file in one write: a killed process leaves whole lines.

    Plain ``os`` calls: this runs after every epoch, and a file object costs several times more.
    """
    target = Path(path)
    data = text.encode("utf-8")
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


def open_for_append(path: Path) -> int:
    """A descriptor to append to ``path``, never through a symlink: a linked file or a linked
    folder above it is a LinkedRunFileError."""
    folder = _open_folder(path.parent)
    try:
        return os.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666, dir_fd=folder)
    except OSError as err:
        if path.is_symlink():  # ELOOP on Linux, EMLINK or EFTYPE elsewhere
            raise linked_file_error(
                path, "AIForge does not append to a file through a link", "Remove the link and try again"
            ) from None
        raise err
    finally:
        os.close(folder)


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
