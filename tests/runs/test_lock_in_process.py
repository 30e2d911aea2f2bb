"""The run folder lock within one process (issue 16, review item 5): a second holder in the same
process is refused like one in another process; the run hands its own lock to its report; a
lock taken while placing a run never outlives a failure there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import RunFolderInUse
from aiforge.reporting.report import REPORT_FILE, build_report
from aiforge.runs import files as run_files
from aiforge.runs import placement as run_placement
from aiforge.runs.lock import LOCK_FILE, acquire_run_lock
from aiforge.utils.callbacks import Callback
from plugin_builders import finished_iris_run


def test_a_second_acquire_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with acquire_run_lock(tmp_path, "aiforge run"):
        with pytest.raises(RunFolderInUse) as refused:
            acquire_run_lock(tmp_path, "aiforge report")
        message = str(refused.value)
        assert "this process" in message and f"PID {os.getpid()}" in message and "aiforge run" in message
        assert (tmp_path / LOCK_FILE).exists()  # the refusal leaves the holder's lock alone
    acquire_run_lock(tmp_path, "next").release()  # released once: free again


def test_place_run_releases_its_lock_when_telling_the_other_ranks_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_broadcast(_: Any) -> Any:
        raise RuntimeError("the process group broke")

    monkeypatch.setattr(run_placement, "broadcast_object", broken_broadcast)
    with pytest.raises(RuntimeError, match="process group broke"):
        run_placement.place_run(tmp_path / "results", "exp", None)
    (run_dir,) = (tmp_path / "results" / "exp").iterdir()
    assert not (run_dir / LOCK_FILE).exists()  # released: the file goes with the lock
    acquire_run_lock(run_dir, "the next command").release()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_iris_run(tmp_path_factory.mktemp("trained"), "locks")


def _settings(root: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")


def test_build_report_uses_the_lock_its_caller_holds(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / REPORT_FILE).unlink()
    with acquire_run_lock(run, "aiforge run") as held:
        with pytest.raises(RunFolderInUse, match="this process"):
            build_report(run)  # not handed the lock: another writer, even in this process
        assert build_report(run, lock=held) == run.resolve() / REPORT_FILE
        assert (run / LOCK_FILE).exists()  # still held by the caller
    assert (run / REPORT_FILE).is_file()


class _ResumeAgain(Callback):
    """While the first resume runs, a second resume of the same folder in the same process."""

    def __init__(self, run: Path, settings: AppSettings) -> None:
        self.run, self.settings = run, settings
        self.refusal: RunFolderInUse | None = None

    def on_experiment_start(self, orchestrator: Orchestrator) -> None:
        try:
            Orchestrator.from_run_dir(self.run, settings=self.settings).run_experiment()
        except RunFolderInUse as err:
            self.refusal = err


def test_two_resumes_of_one_folder_in_one_process(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "results" / "locks" / finished_run.name
    shutil.copytree(finished_run, run)
    for name in (run_files.RESULTS_FILE, REPORT_FILE):  # as if stopped after its last checkpoint
        (run / name).unlink()
    settings = _settings(tmp_path)
    second = _ResumeAgain(run, settings)
    Orchestrator.from_run_dir(run, settings=settings, callbacks=[second]).run_experiment()
    assert second.refusal is not None and "this process" in str(second.refusal)
    assert (run / run_files.RESULTS_FILE).is_file()
    assert (run / REPORT_FILE).is_file()  # the run's own report, written under the run's lock
    assert not (run / LOCK_FILE).exists()
