"""Runs trained once per test session and shared by the inference-command tests."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
from trained_runs import train

from aiforge.config.model_configs import SimpleNNConfig, TrainingConfig


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory) -> Path:
    """simple_nn on iris, 3 epochs."""
    return train(
        tmp_path_factory.mktemp("iris"),
        experiment_name="iris_inference",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        training_config=TrainingConfig(epochs=3, batch_size=16),
    )


@pytest.fixture(scope="session")
def csv_run(tmp_path_factory) -> Path:
    """simple_nn on the bundled CSV (string labels), 3 epochs."""
    root = tmp_path_factory.mktemp("csv")
    data = root / "customers.csv"
    shutil.copy(Path(str(resources.files("aiforge") / "examples" / "example_classification.csv")), data)
    return train(
        root,
        experiment_name="csv_inference",
        model_plugin="simple_nn",
        dataset_plugin="tabular",
        data_path=str(data),
        dataset_args={"target_column": "segment"},
        model_config=SimpleNNConfig(hidden_dim=16),
        training_config=TrainingConfig(epochs=3, batch_size=16, learning_rate=0.01),
    )
