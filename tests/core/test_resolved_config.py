"""The run's resolved config (data_path made absolute, model dims from the data) is a new object:
neither the caller's config nor the config an Orchestrator started from is edited."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.runs.records import config_record


def unresolved_config() -> ExperimentConfig:
    """A config that a run resolves: a relative data_path that exists, and no model dims."""
    return ExperimentConfig(
        experiment_name="resolved",
        model_plugin="simple_nn",
        dataset_plugin="simple_nn",
        data_path="rows.csv",
        dataset_args={"num_samples": 60, "input_dim": 5, "num_classes": 3},
        model_config=SimpleNNConfig(hidden_dim=8),
        training_config=TrainingConfig(epochs=1, batch_size=16),
    )


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppSettings:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    (tmp_path / "rows.csv").write_text("simple_nn ignores its data_path\n", encoding="utf-8")
    return AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False)


def test_run_experiment_leaves_the_callers_config_as_it_was(in_tmp: AppSettings) -> None:
    config = unresolved_config()
    before = config.model_copy(deep=True)

    orchestrator = Orchestrator(config, settings=in_tmp)
    results = orchestrator.run_experiment()

    assert config == before
    assert config.data_path == "rows.csv" and config.model_specific_config.input_dim is None
    resolved = orchestrator.config
    assert resolved.data_path == str(Path("rows.csv").resolve())
    assert (resolved.model_specific_config.input_dim, resolved.model_specific_config.output_dim) == (5, 3)
    saved = yaml.safe_load((Path(results["run_dir"]) / "config.yaml").read_text(encoding="utf-8"))
    assert saved == config_record(resolved)  # the resolved config, new keys left out at their defaults


def test_resolving_makes_a_new_config_and_never_edits_the_one_it_started_from(in_tmp: AppSettings) -> None:
    orchestrator = Orchestrator(unresolved_config(), settings=in_tmp)
    started_from = orchestrator.config
    snapshot = started_from.model_copy(deep=True)

    orchestrator.prepare_data()

    assert started_from == snapshot  # input, working state and record are not one object
    assert orchestrator.config is not started_from
    assert orchestrator.config.model_specific_config.input_dim == 5
    assert orchestrator.config.data_path == str(Path("rows.csv").resolve())
    assert started_from.model_specific_config.input_dim is None and started_from.data_path == "rows.csv"
