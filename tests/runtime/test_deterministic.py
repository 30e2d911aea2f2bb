"""training_config.deterministic: torch's deterministic kernels for the run's process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.runs.records import config_record
from aiforge.runtime.seeding import use_deterministic_kernels


@pytest.fixture
def torch_defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever a test turns on is put back: these are process-wide settings."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark = before[1]
    torch.backends.cudnn.deterministic = False


def test_the_switch_sets_torch_and_cublas(torch_defaults: None, monkeypatch: pytest.MonkeyPatch) -> None:
    use_deterministic_kernels()
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's own value is kept
    use_deterministic_kernels()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def config(deterministic: bool) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_name="det",
        model_plugin="simple_nn",
        dataset_plugin="simple_nn",
        dataset_args={"num_samples": 60},
        training_config={"epochs": 1, "batch_size": 16, "deterministic": deterministic},
    )


def test_a_run_with_the_switch_trains_with_deterministic_kernels(
    torch_defaults: None, tmp_path: Path
) -> None:
    torch.use_deterministic_algorithms(False)
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False)
    Orchestrator(config(False), settings=settings).run_experiment()
    assert not torch.are_deterministic_algorithms_enabled()  # off by default: nothing touched
    results = Orchestrator(config(True), settings=settings).run_experiment()
    assert torch.are_deterministic_algorithms_enabled()
    saved = (Path(results["run_dir"]) / "config.yaml").read_text()
    assert "deterministic: true" in saved


def test_the_key_is_recorded_only_when_set() -> None:
    assert "deterministic" not in config_record(config(False))["training_config"]  # old runs resume
    assert config_record(config(True))["training_config"]["deterministic"] is True
