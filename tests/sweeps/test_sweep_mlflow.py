"""A sweep in MLflow: one parent run, each trial a nested child run (tag mlflow.parentRunId), the
best child tagged; several workers, a continued sweep and tracking off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sweep_files import SPACE, finished_rows

from aiforge.config.settings import AppSettings
from aiforge.sweeps import Sweep
from log_capture import logged_messages
from plugin_builders import tiny_experiment

pytestmark = pytest.mark.slow

PARENT_TAG = "mlflow.parentRunId"
ARGS = ("--results-dir", "results", "--workers", "2", "--device", "cpu")
ARGS += ("-o", "training_config.epochs=2", "-o", "tracking.log_model=false")


def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def _runs(uri: str, experiment: str) -> tuple[list[Any], list[Any]]:
    """The experiment's parent runs (no parent tag) and child runs."""
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id], max_results=1000)
    parents = [run for run in runs if PARENT_TAG not in run.data.tags]
    children = [run for run in runs if PARENT_TAG in run.data.tags]
    return parents, children


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    yield from logged_messages("WARNING")


@pytest.fixture
def clean_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("AIFORGE_", "MLFLOW_")):
            monkeypatch.delenv(name)
    # An earlier test's mlflow.set_tracking_uri() lives on in MLflow's module state.
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)


def tracked_settings(tmp_path: Path) -> tuple[str, AppSettings]:
    """Tracking on, to a SQLite MLflow store in ``tmp_path``: its URI and the settings."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = AppSettings(
        RESULTS_DIR=tmp_path / "results",
        DEVICE="cpu",
        TRACKING=True,
        MLFLOW_TRACKING_URI=uri,
        LOG_LEVEL="WARNING",
    )
    return uri, settings


def test_a_sweep_is_one_parent_run_with_a_child_per_trial(tmp_path: Path, clean_mlflow: None) -> None:
    uri, settings = tracked_settings(tmp_path)
    config = tiny_experiment("mlflow_sweep")
    config["tracking"] = {"log_model": False}
    sweep = {"trials": 3, "metric": "accuracy", "space": SPACE}
    result = Sweep(config, sweep, settings=settings).run()

    parents, children = _runs(uri, "mlflow_sweep")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.run_name == "mlflow_sweep"
    assert parent.info.status == "FINISHED"
    assert {child.data.tags[PARENT_TAG] for child in children} == {parent.info.run_id}
    # each child is the trial's ordinary run: its params and metrics as a run logs them
    for child in children:
        assert "training_config.learning_rate" in child.data.params
        assert "val_accuracy" in child.data.metrics
    # the sweep's settings are the parent's params
    assert parent.data.params["sweep.metric"] == "val_accuracy"
    assert parent.data.params["sweep.trials"] == "3"
    assert "sweep.space.training_config.learning_rate.low" in parent.data.params
    # the best trial: its value on the parent, its child tagged
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result["best_value"])
    assert parent.data.metrics["best_trial_number"] == result["best_trial"]
    best = [child for child in children if child.data.tags.get("aiforge.best_trial") == "true"]
    assert len(best) == 1
    assert best[0].data.tags["aiforge.run_dir"] == result["best_run_dir"]

    # The same sweep again, with more trials: the same parent run, the new child under it.
    again = Sweep(config, {**sweep, "trials": 4}, settings=settings).run()
    parents, children = _runs(uri, "mlflow_sweep")
    assert [run.info.run_id for run in parents] == [parent.info.run_id]
    assert len(children) == 4 and {c.data.tags[PARENT_TAG] for c in children} == {parent.info.run_id}
    best = [child for child in children if child.data.tags.get("aiforge.best_trial") == "true"]
    assert [child.data.tags["aiforge.run_dir"] for child in best] == [again["best_run_dir"]]


def test_no_parent_run_when_tracking_is_off(tmp_path: Path, clean_mlflow: None) -> None:
    _, settings = tracked_settings(tmp_path)
    config = tiny_experiment("untracked_sweep")
    config["tracking"] = {"enabled": False}
    Sweep(config, {"trials": 1, "space": SPACE}, settings=settings).run()
    assert not (tmp_path / "mlflow.db").exists()


def test_a_parent_store_that_fails_warns_and_the_sweep_goes_on(
    tmp_path: Path, clean_mlflow: None, monkeypatch: pytest.MonkeyPatch, warnings: list[str]
) -> None:
    from aiforge.tracking import mlflow_sweep

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the store is gone")

    monkeypatch.setattr(mlflow_sweep.SweepParentRun, "_create", broken)
    uri, settings = tracked_settings(tmp_path)
    config = tiny_experiment("broken_parent")
    config["tracking"] = {"log_model": False}
    result = Sweep(config, {"trials": 2, "space": SPACE}, settings=settings).run()
    assert result["trials_complete"] == 2
    assert any("the store is gone" in text and "parent" in text for text in warnings)
    parents, children = _runs(uri, "broken_parent")
    assert len(children) == 0 and len(parents) == 2  # the trials are still tracked, unnested


def test_six_digits_trials_on_two_workers_leave_six_runs_and_one_parent(
    tmp_path: Path, clean_mlflow: None
) -> None:
    """The issue's done criterion: the default digits experiment, 6 trials over learning rate and
    hidden width, 2 workers, through the real CLI."""
    from importlib.resources import files

    base = yaml.safe_load(files("aiforge.examples").joinpath("default.yaml").read_text())
    base["sweep"] = {
        "trials": 6,
        "space": {
            "training_config.learning_rate": {"type": "float", "low": 0.0005, "high": 0.01, "log": True},
            "model_config.hidden_dim": {"type": "int", "low": 16, "high": 64, "step": 16},
        },
    }
    path = tmp_path / "digits_sweep.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "AIFORGE_TRACKING": "true", "AIFORGE_MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, "-m", "aiforge", "sweep", str(path), *ARGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best trial" in done.stdout and "6/6 trials finished" in done.stdout
    results = tmp_path / "results" / "digits_mlp"
    assert len(list(results.glob("2*"))) == 6
    folder = results / "sweeps" / "digits_mlp"
    assert len(finished_rows(folder)) == 6
    record = json.loads((folder / "sweep_results.json").read_text())

    parents, children = _runs(uri, "digits_mlp")
    assert len(parents) == 1 and len(children) == 6
    assert {child.data.tags[PARENT_TAG] for child in children} == {parents[0].info.run_id}
    best = [child for child in children if child.data.tags.get("aiforge.best_trial") == "true"]
    assert [child.data.tags["aiforge.run_dir"] for child in best] == [record["best_run_dir"]]
