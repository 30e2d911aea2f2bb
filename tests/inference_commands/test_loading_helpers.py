"""load_run's helpers take values and return values; load_run hands them to the Orchestrator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aiforge.data.scaling import FeatureScaler
from aiforge.errors import CheckpointError, ConfigError, DataError
from aiforge.inference_commands import loading


def test_same_rows_is_checked_from_the_row_count(tmp_path: Path) -> None:
    results = {"train_samples": 4, "val_samples": 1}
    loading._check_same_rows(tmp_path, results, 5, "data.csv")
    loading._check_same_rows(tmp_path, None, 7, "data.csv")  # no record: nothing to compare
    with pytest.raises(DataError, match=r"its data now has 7 rows, but the run trained on 5 \(data\.csv\)"):
        loading._check_same_rows(tmp_path, results, 7, "data.csv")


def test_the_saved_preprocessor_is_returned_not_installed(iris_run: Path) -> None:
    fitted = FeatureScaler()
    fitted.fit(torch.randn(10, 4))
    saved = loading._saved_preprocessor(iris_run, FeatureScaler, fitted, "iris")
    assert isinstance(saved, FeatureScaler) and saved is not fitted
    assert loading._saved_preprocessor(iris_run, None, fitted, "iris") is None


def test_a_missing_preprocessor_file_names_the_plugin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset plugin 'iris' has a preprocessor"):
        loading._saved_preprocessor(tmp_path, FeatureScaler, None, "iris")


def test_weights_are_loaded_into_the_model_given(tmp_path: Path) -> None:
    source = torch.nn.Linear(2, 3)
    path = tmp_path / "final_model.pt"
    torch.save(source.state_dict(), path)
    model = torch.nn.Linear(2, 3).train()
    assert loading._load_weights(path, model, "cpu") is model
    assert not model.training
    assert torch.equal(model.weight, source.weight)
    with pytest.raises(CheckpointError, match="the weights do not fit the model"):
        loading._load_weights(path, torch.nn.Linear(3, 3), "cpu")
