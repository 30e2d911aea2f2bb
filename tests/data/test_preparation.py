"""Preparing a run's data: what it fills, the config it leaves alone, and what an error leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.data.preparation import PreparedData, prepare_data
from aiforge.errors import AIForgeError
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset

ROWS = 50


def make_config(**dataset_args: Any) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_name="prep_test",
        model_plugin="simple_nn",
        dataset_plugin="simple_nn",
        dataset_args={"num_samples": ROWS, "num_classes": 3, **dataset_args},
        test_fraction=0.2,
        model_config=SimpleNNConfig(hidden_dim=4),
        training_config=TrainingConfig(epochs=1, batch_size=8, learning_rate=0.01),
    )


def test_prepare_data_fills_every_field_and_resolves_a_new_config(tmp_path: Path) -> None:
    config = make_config()
    data = PreparedData(config=config)
    prepare_data(data, SimpleDataset, None, tmp_path, torch.device("cpu"), "classification", resumed=False)

    assert data.dataset is not None and len(data.dataset) == ROWS
    assert data.train_indices is not None and data.val_indices is not None and data.test_indices is not None
    rows = torch.cat([data.train_indices, data.val_indices, data.test_indices]).sort().values
    assert torch.equal(rows, torch.arange(ROWS))  # every row in exactly one split
    assert data.test_dataset is data.dataset  # test_fraction: split off the run's own rows
    assert data.train_dataloader is not None and data.val_dataloader is not None
    assert data.test_dataloader is not None
    assert data.num_classes == 3
    assert data.config is not config  # the dims found went into a new config object
    assert data.config.model_specific_config.output_dim == 3
    assert config.model_specific_config.output_dim is None


@pytest.mark.parametrize("failing_step", ["loading", "model dims"])
def test_orchestrator_keeps_what_prepare_data_did_before_an_error(tmp_path: Path, failing_step: str) -> None:
    """``aiforge evaluate`` reads the loaded dataset after a DataError to explain it."""
    if failing_step == "loading":
        config = make_config(num_samples=0)  # simple_nn refuses it in load_data
    else:
        config = make_config()
        config.model_specific_config.input_dim = 99  # contradicts the data's 10 features
    orchestrator = Orchestrator(config, settings=AppSettings(RESULTS_DIR=tmp_path, DEVICE="cpu"))

    with pytest.raises(AIForgeError):
        orchestrator.prepare_data()

    assert isinstance(orchestrator.dataset, SimpleDataset)
    if failing_step == "loading":
        assert not hasattr(orchestrator, "train_indices")  # the rows were never split
    else:
        assert len(orchestrator.train_indices) + len(orchestrator.val_indices) == ROWS - 10
        assert orchestrator.train_dataloader is not None
