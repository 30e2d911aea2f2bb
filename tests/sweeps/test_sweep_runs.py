"""Sweeps that run: each trial an ordinary run folder, the records, continuing, several workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_files import SPACE, aiforge, finished_rows, sweep_file, trial_rows

from aiforge.config.settings import AppSettings
from aiforge.sweeps import Sweep
from aiforge.sweeps.trial import TrialReporter, metric_value, result_attrs
from plugin_builders import tiny_experiment


def test_a_sweep_from_python_leaves_runs_and_records_and_continues(tmp_path: Path) -> None:
    settings = AppSettings(
        RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING"
    )
    sweep = {"trials": 3, "metric": "accuracy", "space": SPACE}
    result = Sweep(tiny_experiment("py_sweep"), sweep, settings=settings).run()
    folder = tmp_path / "results" / "py_sweep" / "sweeps" / "py_sweep"
    runs = sorted((tmp_path / "results" / "py_sweep").glob("2*"))
    assert len(runs) == 3 and all((run / "final_results.json").is_file() for run in runs)
    assert result == json.loads((folder / "sweep_results.json").read_text())
    assert (result["trials_complete"], result["metric"], result["direction"]) == (
        3,
        "val_accuracy",
        "maximize",
    )
    rows = trial_rows(folder)
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    assert sorted(Path(row["run_dir"]) for row in rows) == runs
    best = next(row for row in rows if int(row["trial"]) == result["best_trial"])
    assert float(best["value"]) == result["best_value"] == max(float(row["value"]) for row in rows)
    best_results = json.loads((Path(result["best_run_dir"]) / "final_results.json").read_text())
    assert best_results["final_val_metrics"]["accuracy"] == result["best_value"]
    assert set(rows[0]) == {"trial", "state", *SPACE, "value", "duration_s", "run_dir"}
    assert (folder / "sweep_config.yaml").is_file()

    again = Sweep(tiny_experiment("py_sweep"), sweep, settings=settings).run()  # the same sweep again
    assert again == result
    assert sorted((tmp_path / "results" / "py_sweep").glob("2*")) == runs


def test_two_workers_finish_exactly_the_trials_requested(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, trials=4)
    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "results" / "tiny_sweep" / "sweeps" / "tiny_sweep"
    rows = finished_rows(folder)
    assert len(rows) == 4 and len({row["run_dir"] for row in rows}) == 4
    assert len(list((tmp_path / "results" / "tiny_sweep").glob("2*"))) == 4
    assert "best trial" in done.stdout and "4/4 trials finished" in done.stdout
    assert done.stderr.count("| 4/4 finished") == 1  # one log line per finished trial


class _FakeTrial:
    def __init__(self, prune_at: int) -> None:
        self.reported: list[tuple[float, int]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.prune_at


def test_the_pruning_callback_reports_each_epoch_and_stops_the_run() -> None:
    trial = _FakeTrial(prune_at=2)
    reporter = TrialReporter(trial, "val_accuracy")
    reporter.on_epoch_end(0, {"epoch": 1, "val_accuracy": 0.5, "val_loss": 1.0})
    assert not reporter.stop_training
    reporter.on_epoch_end(1, {"epoch": 2, "val_accuracy": 0.6, "val_loss": 0.9})
    assert trial.reported == [(0.5, 1), (0.6, 2)]
    assert reporter.stop_training and reporter.pruned


def test_the_objective_is_the_final_validation_value_and_test_metrics_are_kept() -> None:
    results = {
        "final_val_loss": 0.3,
        "final_val_metrics": {"accuracy": 0.9},
        "test_loss": 0.4,
        "test_metrics": {"accuracy": 0.8},
    }
    assert metric_value(results, "val_loss") == 0.3 and metric_value(results, "val_accuracy") == 0.9
    assert metric_value(results, "val_f1") is None
    assert result_attrs(results)["test_metrics"] == {"accuracy": 0.8}
    assert "test_loss" not in result_attrs({"final_val_loss": 0.3})


@pytest.mark.slow
def test_a_pruned_sweep_counts_pruned_trials(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, trials=4, pruner="median", sampler="random")
    done = aiforge(tmp_path, "sweep", str(path), "--results-dir", "results", "-o", "training_config.epochs=3")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "results/tiny_sweep/sweeps/tiny_sweep/sweep_results.json").read_text())
    assert result["trials_complete"] + result["trials_pruned"] == 4
