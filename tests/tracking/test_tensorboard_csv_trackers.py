"""The TensorBoard and CSV trackers in a real run: what they write, a failure mid-run, a resume."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from backend_runs import assert_series, backend_config, csv_rows, history, run, scalars, settings_for

from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking.csv_tracker import CSVTracker
from aiforge.utils.callbacks import Callback
from log_capture import logged_messages

STEPS_PER_EPOCH = 4  # 32 training rows of tiny_experiment's 40, batches of 8


@pytest.fixture
def warnings() -> Any:
    yield from logged_messages("WARNING")


def test_tensorboard_has_each_epoch_s_metrics_at_its_step_and_the_run_s_results(tmp_path):
    results = run(backend_config(["tensorboard"], epochs=2, log_every_n_steps=2), tmp_path)
    run_dir = Path(results["run_dir"])
    logged = scalars(run_dir)
    rows = history(run_dir)
    for key in ("train_loss", "val_loss", "lr"):
        assert_series(logged[key], [(4 * (i + 1), float(row[key])) for i, row in enumerate(rows)])
    assert "epoch" not in logged
    assert [step for step, _ in logged["step_train_loss"]] == [2, 4, 6, 8]
    assert_series(logged["final_val_loss"], [(8, results["final_val_loss"])])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    accumulator.Reload()
    assert "figures/loss_curves" in accumulator.Tags()["images"]
    plugins = accumulator.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins


def test_csv_has_a_row_per_epoch_and_per_logged_step(tmp_path):
    results = run(backend_config(["csv"], epochs=2, log_every_n_steps=3), tmp_path)
    run_dir = Path(results["run_dir"])
    rows = csv_rows(run_dir)
    assert list(rows[0])[:2] == ["step", "epoch"]
    epochs = [row for row in rows if row["train_loss"]]
    assert [(row["step"], row["epoch"]) for row in epochs] == [("4", "1"), ("8", "2")]
    for row, own in zip(epochs, history(run_dir), strict=True):
        assert {k: float(row[k]) for k in own if k != "epoch"} == {
            k: float(v) for k, v in own.items() if k != "epoch"
        }
    steps = [(row["step"], row["epoch"]) for row in rows if row["step_train_loss"]]
    assert steps == [("3", "1"), ("6", "2")]


def test_a_step_scheduler_s_lr_is_logged_at_every_step(tmp_path, monkeypatch):
    import aiforge.tracking.run_values as run_values

    monkeypatch.setattr(run_values, "lr_per_step", lambda config: True)
    results = run(backend_config(["csv", "tensorboard"], epochs=1), tmp_path)
    run_dir = Path(results["run_dir"])
    assert [step for step, _ in scalars(run_dir)["step_lr"]] == [1, 2, 3, 4]  # each step
    assert [step for step, _ in scalars(run_dir)["lr"]] == [4]  # the epoch's
    rows = csv_rows(run_dir)  # the epoch's values share step 4's row
    assert [(row["step"], bool(row["step_lr"]), bool(row["train_loss"])) for row in rows] == [
        ("1", True, False),
        ("2", True, False),
        ("3", True, False),
        ("4", True, True),
    ]


class Breaker(Callback):
    """After epoch 1 (its trackers have logged it): TensorBoard's writer fails as a full disk does,
    and the CSV tracker's folder is replaced by a file, so its next write fails."""

    trackers: list[Any] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch != 0:
            return
        for tracker in self.trackers:
            if isinstance(tracker, CSVTracker):
                folder = tracker.path.parent
                shutil.rmtree(folder)
                folder.write_text("not a folder")
            else:

                def full(*args: Any, **kwargs: Any) -> None:
                    raise OSError(28, "No space left on device")

                tracker.writer.add_scalar = full


def test_a_backend_failing_mid_run_warns_once_and_the_run_finishes(tmp_path, warnings):
    config = backend_config(["tensorboard", "csv"], epochs=3, log_every_n_steps=1)
    breaker = Breaker()
    orchestrator = Orchestrator(config, settings=settings_for(tmp_path), callbacks=[breaker])
    breaker.trackers = orchestrator.trackers
    results = orchestrator.run_experiment()
    stopped = [m for m in warnings if "tracking stopped" in m]
    assert len(stopped) == 2, warnings
    assert any(m.startswith("TensorBoard tracking stopped") and "No space left" in m for m in stopped)
    assert any(m.startswith("CSV tracking stopped") and "metrics.csv" in m for m in stopped)
    run_dir = Path(results["run_dir"])
    assert results["epochs_completed"] == 3
    assert len(history(run_dir)) == 3 and (run_dir / "final_results.json").is_file()
    assert (run_dir / "report.html").is_file()


class CrashAfterTrackers(Callback):
    """Fails in epoch 2's end after the trackers logged it, before its checkpoint is written."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise RuntimeError("crash before the checkpoint")


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    config = backend_config(["tensorboard", "csv"], epochs=3, log_every_n_steps=2)
    with pytest.raises(RuntimeError, match="crash before the checkpoint"):
        Orchestrator(
            config, settings=settings_for(tmp_path), callbacks=[CrashAfterTrackers()]
        ).run_experiment()
    [run_dir] = (tmp_path / "results" / "backends").iterdir()
    assert [step for step, _ in scalars(run_dir)["val_loss"]] == [4, 8]  # epoch 2 logged, not checkpointed
    assert [row["epoch"] for row in csv_rows(run_dir) if row["train_loss"]] == ["1", "2"]
    results = Orchestrator.from_run_dir(run_dir, settings=settings_for(tmp_path)).run_experiment()
    assert results["epochs_completed"] == 3
    own = history(run_dir)
    logged = scalars(run_dir)
    assert_series(logged["val_loss"], [(4 * (i + 1), float(row["val_loss"])) for i, row in enumerate(own)])
    assert [step for step, _ in logged["step_train_loss"]] == [2, 4, 6, 8, 10, 12]
    rows = csv_rows(run_dir)
    epochs = [row for row in rows if row["train_loss"]]
    assert [float(row["val_loss"]) for row in epochs] == [float(row["val_loss"]) for row in own]
    assert [row["step"] for row in rows if row["step_train_loss"]] == ["2", "4", "6", "8", "10", "12"]


def test_only_the_main_process_tracks(monkeypatch):
    monkeypatch.setattr("aiforge.tracking.step_tracker.is_main_process", lambda: False)
    assert CSVTracker().active is False
