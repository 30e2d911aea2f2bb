"""Which folder a run writes to: a new one, the one being resumed, or, after torchrun restarted
the workers (elastic), the one this job already started. Rank 0 decides; every rank is told."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from aiforge.errors import AIForgeError
from aiforge.runs import files as run_files
from aiforge.runs.lock import RunLock, acquire_run_lock
from aiforge.runs.resume import resumable_run_dir
from aiforge.runtime.distributed import broadcast_object, is_main_process


def place_run(
    results_root: Path, experiment_name: str, resume_from: Path | None
) -> tuple[Path, bool, RunLock | None]:
    """The run folder and whether the run continues from its checkpoints, the same on every rank;
    and, on rank 0 (the one process that writes run files), the folder's lock, held from the
    moment the folder exists. A folder another process holds is refused (exit 2)."""
    decision: tuple[str, str | bool] | None = None
    lock: RunLock | None = None
    error: AIForgeError | None = None
    if is_main_process():
        try:
            run_dir, resuming, lock = _decide(results_root, experiment_name, resume_from)
            decision = (str(run_dir), resuming)
        except AIForgeError as err:
            error, decision = err, ("error", str(err))
    try:
        decision = broadcast_object(decision)
        assert decision is not None
        if decision[0] == "error":
            raise error or AIForgeError(str(decision[1]))
    except BaseException:
        if lock is not None:  # never handed to the run: nobody else would release it
            lock.release()
        raise
    return Path(decision[0]), bool(decision[1]), lock


def discard_unused_run_dir(run_dir: Path) -> bool:
    """Remove a new run's folder after a user error before training (it holds no results, so leave
    no clutter behind), and its experiment folder when that is left empty; False (nothing removed)
    when the folder holds a checkpoint."""
    if any((run_dir / run_files.CHECKPOINT_DIR).iterdir()):
        return False  # never delete anything a run produced
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        run_dir.parent.rmdir()  # only succeeds when empty
    return True


def _decide(results_root: Path, experiment_name: str, resume_from: Path | None) -> tuple[Path, bool, RunLock]:
    if resume_from is not None:
        lock = acquire_run_lock(resume_from, "aiforge run --resume")
        try:
            resumable_run_dir(resume_from)  # again, now that no other process can change it
        except BaseException:
            lock.release()
            raise
        return resume_from, True, lock
    marker = _job_marker(results_root, experiment_name)
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    if marker is not None and restarts > 0 and marker.exists():
        run_dir = Path(marker.read_text(encoding="utf-8").strip())
        checkpoints = run_dir / run_files.CHECKPOINT_DIR
        has_checkpoint = any((checkpoints / name).exists() for name in run_files.CHECKPOINT_NAMES)
        if (run_dir / run_files.RESULTS_FILE).exists():
            raise AIForgeError(f"this torchrun job's run has already finished: {run_dir}")
        if has_checkpoint:
            return _decide(results_root, experiment_name, resumable_run_dir(run_dir))
    run_dir = run_files.create_run_dir(results_root, experiment_name)
    lock = acquire_run_lock(run_dir, "aiforge run")
    if marker is not None:
        try:
            run_files.write_text(marker, f"{run_dir}\n")
        except BaseException:
            lock.release()
            raise
    return run_dir, False, lock


def _job_marker(results_root: Path, experiment_name: str) -> Path | None:
    """``.torchrun-<job id>`` beside the run folders: where restarted workers find their run."""
    job = os.environ.get("TORCHELASTIC_RUN_ID")
    if not job or job == "none":  # torchrun's default id when no --rdzv-id is given: not unique
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job)[:100]
    return results_root / experiment_name / f".torchrun-{safe}"
