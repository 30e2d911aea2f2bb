"""tracking.backends: the config key, the trackers a run gets, and their store checks."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from backend_runs import backend_config
from pydantic import ValidationError

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.errors import ConfigError
from aiforge.runs.records import config_record
from aiforge.tracking.csv_tracker import CSVTracker
from aiforge.tracking.mlflow_callback import MLflowCallback
from aiforge.tracking.mlflow_sweep import SweepParentRun
from aiforge.tracking.tensorboard_tracker import TensorBoardTracker
from aiforge.tracking.trackers import check_tracking_store, trackers_for
from aiforge.tracking.wandb_tracker import WandbTracker
from plugin_builders import tiny_experiment

ON, OFF = AppSettings(TRACKING=True), AppSettings(TRACKING=False)


def test_the_default_is_mlflow_and_the_record_is_as_before():
    config = ExperimentConfig(**tiny_experiment("plain"))
    assert config.tracking.backends == ["mlflow"]
    assert "backends" not in config_record(config)["tracking"]  # older runs' config.yaml, unchanged
    assert [type(t) for t in trackers_for(config, ON)] == [MLflowCallback]


def test_a_chosen_set_is_recorded_and_gives_one_tracker_each_in_order():
    config = backend_config(["csv", "tensorboard", "mlflow"])
    assert config_record(config)["tracking"]["backends"] == ["csv", "tensorboard", "mlflow"]
    assert [type(t) for t in trackers_for(config, ON)] == [CSVTracker, TensorBoardTracker, MLflowCallback]


@pytest.mark.parametrize("config", [backend_config(["csv", "tensorboard"]), backend_config([])])
def test_tracking_off_turns_every_backend_off(config):
    assert trackers_for(config, OFF) == []
    off = backend_config(["csv", "tensorboard"], enabled=False)
    assert trackers_for(off, ON) == []


def test_an_unknown_backend_names_the_choices():
    with pytest.raises(ValidationError, match="'mlflow', 'tensorboard', 'csv' or 'wandb'"):
        backend_config(["mlflow", "tensorbaord"])


def test_a_backend_named_twice_is_refused():
    with pytest.raises(ValidationError, match="csv more than once"):
        backend_config(["csv", "mlflow", "csv"])


def test_the_override_syntax_takes_a_list(tmp_path):
    from aiforge.config.loading import load_experiment_config

    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(tiny_experiment("listed")))
    config = load_experiment_config(path, ["tracking.backends=[mlflow, csv]"])
    assert config.tracking.backends == ["mlflow", "csv"]


def test_wandb_chosen_but_not_installed_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="pip install wandb"):
        trackers_for(backend_config(["csv", "wandb"]), ON)


def test_wandb_is_a_tracker_when_installed():
    pytest.importorskip("wandb")
    assert [type(t) for t in trackers_for(backend_config(["wandb"]), ON)] == [WandbTracker]


def test_every_tracker_s_store_is_checked(tmp_path):
    checked: list[Any] = []

    class Checked(CSVTracker):
        def check_store(self, run_dir=None):
            checked.append((type(self).__name__, run_dir))

    check_tracking_store([Checked(), Checked()], tmp_path)
    assert checked == [("Checked", tmp_path)] * 2


def test_a_sweep_has_no_mlflow_parent_run_without_mlflow():
    assert SweepParentRun.for_config(backend_config(["csv"]), ON) is None
    assert SweepParentRun.for_config(backend_config(["csv", "mlflow"]), ON) is not None


def test_choosing_tensorboard_or_csv_imports_neither_mlflow_nor_wandb():
    import subprocess
    import sys

    code = (
        "import sys\nfrom aiforge.config.settings import AppSettings\n"
        "from aiforge.config.model_configs import ExperimentConfig\n"
        "from aiforge.tracking.trackers import trackers_for\n"
        "c = ExperimentConfig(experiment_name='x', model_plugin='simple_nn', dataset_plugin='simple_nn',"
        " tracking={'backends': ['tensorboard', 'csv']})\n"
        "trackers_for(c, AppSettings(TRACKING=True))\n"
        "print(sorted(m for m in ('mlflow', 'wandb', 'tensorboard') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
