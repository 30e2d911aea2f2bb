"""Continuing a run: the folder checks (is it resumable, are its records, config and data as they
were) and the cleanup before a resume; the checkpoint inside it is read by training/checkpoint.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError, DataError
from aiforge.runs import files as run_files
from aiforge.runs.labels import check_same_labels
from aiforge.runtime.log import logger


def resumable_run_dir(run_dir: str | Path, results_dir: str | Path | None = None) -> Path:
    """The run folder (as given, else relative to ``results_dir``), if it is one that can be
    continued; a clear error otherwise."""
    found = run_files.find_run_dir(run_dir, results_dir)
    path = found.path
    if found.problem in ("missing", "file"):
        raise ConfigError(f"--resume {run_dir}: no such run folder")
    if found.problem == "lacks":
        raise ConfigError(
            f"--resume {run_dir}: not an AIForge run folder (it has no {run_files.CONFIG_FILE})"
        )
    if (path / run_files.RESULTS_FILE).exists():
        raise ConfigError(
            f"--resume {run_dir}: this run has finished ({run_files.RESULTS_FILE} exists); "
            f"start a new run with `aiforge run {path / run_files.CONFIG_FILE}`"
        )
    run_files.refuse_linked_folder(path / run_files.CHECKPOINT_DIR)  # before anything is read from it
    return path


def explain_failure(error: BaseException, run_dir: Path, log_path: Path, trained: bool) -> None:
    """Tell the user where the traceback is and how to continue the run, when it can be."""
    from aiforge.errors import AIForgeError
    from aiforge.runtime.distributed import is_peer_failure
    from aiforge.runtime.log import log_written
    from aiforge.runtime.signals import RunInterrupted

    unexpected = not isinstance(error, (AIForgeError, KeyboardInterrupt)) and not is_peer_failure(error)
    if unexpected and log_written(log_path):  # never point at a log the disk refused
        logger.warning(f"The traceback is in {log_path}")
    if (run_dir / run_files.RESULTS_FILE).exists():
        return  # the run had finished; only its report or tracking was cut short
    if not trained or not (run_dir / run_files.CHECKPOINT_DIR / run_files.LAST_CHECKPOINT).exists():
        return
    if isinstance(error, RunInterrupted):
        logger.warning(f"Run interrupted ({error}); continue it with: {_resume_command(run_dir)}")
    elif not isinstance(error, AIForgeError):
        logger.warning(f"The last checkpoint stays usable: aiforge run --resume {run_dir}")


def _resume_command(run_dir: Path) -> str:
    """``aiforge run --resume DIR``, with ``--allow-dotted-plugins`` when the run's config names a
    plugin or class by dotted path (its run folder is data: resuming refuses them otherwise)."""
    import yaml

    from aiforge.config.trust import ALLOW_DOTTED_FLAG, names_dotted_path

    command = f"aiforge run --resume {run_dir}"
    try:
        record = yaml.safe_load((run_dir / run_files.CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # the hint is a courtesy: never fail on it
        return command
    return f"{command} {ALLOW_DOTTED_FLAG}" if names_dotted_path(record) else command


def check_run_records(run_dir: Path, preprocessor: bool, labels: dict[str, Any] | None) -> None:
    """The files the run wrote when it started, which evaluate, predict and export read later.

    A resume neither rewrites them (it would have to trust the data as it is now) nor goes on
    without them (the finished run would be unusable): a missing one, or a label file that does
    not say what the run would write now, stops it, before anything is written.
    ``preprocessor``: whether the run wrote that file; ``labels``: the label record it wrote, if any
    (checked here; the preprocessor is checked against the refitted one later).
    """
    needed = [run_files.CONFIG_FILE]
    needed += [run_files.PREPROCESSOR_FILE] if preprocessor else []
    needed += [run_files.LABELS_FILE] if labels is not None else []
    missing = [name for name in needed if not (run_dir / name).is_file()]
    if missing:
        raise DataError(
            f"{run_dir} cannot be resumed: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. The run wrote "
            f"{'it' if len(missing) == 1 else 'them'} when it started, and evaluate, predict and export "
            "need them. Put the file back (from a copy of the run folder), or start a new run with "
            f"`aiforge run {run_dir / run_files.CONFIG_FILE}`"
        )
    if labels is not None:
        fix = (
            "the run cannot be resumed with it. Put the file back (from a copy of the run folder), "
            f"or start a new run with `aiforge run {run_dir / run_files.CONFIG_FILE}`"
        )
        check_same_labels(run_dir / run_files.LABELS_FILE, labels, fix)


def remove_stale_temp_files(run_dir: Path) -> None:
    """Temporary files of writes a crash cut short: never read, safe to delete.

    Only where AIForge writes them (the run folder and its ``checkpoints``), only plain files,
    and never through a symlink: a linked folder (``x -> /home/user``) is not searched.
    """
    for folder in (run_dir, run_dir / run_files.CHECKPOINT_DIR):
        if folder.is_symlink() or not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            stale = [e for e in entries if _is_temp_name(e.name) and e.is_file(follow_symlinks=False)]
        for entry in stale:
            Path(entry.path).unlink(missing_ok=True)
            logger.debug(f"Removed {entry.name}, left by an interrupted write")


def _is_temp_name(name: str) -> bool:
    """``.<file>.<random>.tmp``, the name :func:`run_files.atomic_path` gives a write in progress."""
    return name.startswith(".") and name.endswith(".tmp")


def check_same_config(saved_json: str, current: dict[str, Any], run_dir: Path) -> None:
    """A resume must continue the run it started as: any changed config value is an error."""
    saved = _with_new_defaults(json.loads(saved_json), current)
    changes = [
        f"  {key}: {_show(saved_value)} -> {_show(current_value)}"
        for key, saved_value, current_value in _differences(saved, current)
    ]
    if changes:
        raise ConfigError(
            f"the config differs from the one {run_dir} was started with:\n" + "\n".join(changes) + "\n"
            "A resume continues the same run; start a new run for a changed config."
        )


def _with_new_defaults(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A run started before a training_config option existed ran as that option's default does."""
    from aiforge.config.model_configs import TrainingConfig

    training, now = saved.get("training_config"), current.get("training_config")
    if isinstance(training, dict) and isinstance(now, dict):
        defaults = TrainingConfig().model_dump(mode="json")
        added = {key: defaults[key] for key in now if key not in training and key in defaults}
        saved["training_config"] = {**training, **added}
    return saved


def check_same_preprocessor(saved_path: Path, refitted: Any) -> None:
    """The preprocessor refitted on the training split must equal the saved one, or the data changed."""
    import torch

    if refitted is None or not saved_path.exists():
        return
    saved = type(refitted)()
    try:
        saved.load(saved_path)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise DataError(
            f"{saved_path}: cannot load the saved preprocessor ({first_line(err)}); the run cannot "
            "be resumed without it. Put it back from a copy of the run folder, or start a new run"
        ) from None
    tensors, metadata = refitted.serialisable_state()
    saved_tensors, saved_metadata = saved.serialisable_state()
    same = tensors.keys() == saved_tensors.keys() and all(
        torch.equal(tensors[key], saved_tensors[key]) for key in tensors
    )
    if not same or metadata.get("json") != saved_metadata.get("json"):
        raise DataError(
            f"the training data differs from the data this run started with: the preprocessor fitted "
            f"on it does not match {saved_path.name}; a resume needs the same data"
        )


def _differences(saved: Any, current: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(saved, dict) and isinstance(current, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in dict.fromkeys([*saved, *current]):
            found += _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return found
    return [] if saved == current else [(prefix.rstrip("."), saved, current)]


def _show(value: Any) -> str:
    return json.dumps(value)


def first_line(err: BaseException) -> str:
    """An error's first line, cut to 300 characters: enough to say what went wrong in one line."""
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""
