"""The CSV tracker's file: an epoch's values share the row of the step values logged at its last
optimizer step (as Lightning's CSVLogger writes them); a linked csv/ folder or metrics.csv is refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from backend_runs import backend_config, csv_rows, history, run, settings_for

from aiforge.config.model_configs import ExperimentConfig
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking.csv_tracker import CSVTracker
from log_capture import logged_messages


@pytest.fixture
def warnings() -> Any:
    yield from logged_messages("WARNING")


def test_an_epoch_and_the_step_values_at_its_last_step_share_one_row(tmp_path):
    results = run(backend_config(["csv"], epochs=2, log_every_n_steps=2), tmp_path)  # 4 steps/epoch
    run_dir = Path(results["run_dir"])
    rows = csv_rows(run_dir)
    assert [row["step"] for row in rows] == ["2", "4", "6", "8"]
    assert [bool(row["step_train_loss"]) for row in rows] == [True] * 4
    ends = [row for row in rows if row["train_loss"]]
    assert [(row["step"], row["epoch"]) for row in ends] == [("4", "1"), ("8", "2")]
    assert [float(row["val_loss"]) for row in ends] == [float(row["val_loss"]) for row in history(run_dir)]


def test_an_epoch_merges_into_a_step_row_already_written(tmp_path):
    data = backend_config(["csv"], epochs=2, log_every_n_steps=1).model_dump()
    data["training_config"]["checkpoint_every_n_steps"] = 1  # a save point (and a CSV write) per step
    config = ExperimentConfig(**data)
    results = Orchestrator(config, settings=settings_for(tmp_path)).run_experiment()
    rows = csv_rows(Path(results["run_dir"]))
    assert [row["step"] for row in rows] == [str(step) for step in range(1, 9)]
    assert [row["step"] for row in rows if row["train_loss"]] == ["4", "8"]


def _run_dir_with(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_dir


def test_a_linked_csv_folder_is_never_written_through(tmp_path, warnings):
    run_dir, outside = _run_dir_with(tmp_path), tmp_path / "outside"
    outside.mkdir()
    (run_dir / "csv").symlink_to(outside)
    tracker = CSVTracker()
    tracker.on_experiment_start(SimpleNamespace(run_dir=run_dir, trainer=None))  # type: ignore[arg-type]
    tracker.on_epoch_end(0, {"epoch": 1, "train_loss": 0.5})
    tracker.on_experiment_end(SimpleNamespace(run_dir=run_dir, trainer=None), "FINISHED")  # type: ignore[arg-type]
    assert list(outside.iterdir()) == []
    assert tracker.failed
    # Refused as the run starts, before anything is logged (not at the first write).
    assert any("CSV tracking stopped: opening" in m and "symbolic link" in m for m in warnings), warnings


def test_a_resume_never_reads_a_linked_metrics_file(tmp_path, warnings):
    run_dir, secret = _run_dir_with(tmp_path), tmp_path / "secret.csv"
    secret.write_text("step,epoch,password\n1,1,hunter2\n")
    (run_dir / "csv").mkdir()
    (run_dir / "csv" / "metrics.csv").symlink_to(secret)
    resumed = SimpleNamespace(resumed=True, global_step=4, epoch=1)
    tracker = CSVTracker()
    tracker.trainer = resumed
    tracker.on_experiment_start(SimpleNamespace(run_dir=run_dir, trainer=resumed))  # type: ignore[arg-type]
    assert tracker.failed
    assert any("CSV tracking stopped" in m and "symbolic link" in m for m in warnings)
    assert secret.read_text() == "step,epoch,password\n1,1,hunter2\n"
