"""Model dims and task checks derived from the data."""

from __future__ import annotations

import pytest
import torch

from aiforge.config.model_configs import ModelSpecificConfig, SimpleNNConfig
from aiforge.core.data_pipeline import BaseDataset, InMemoryDataset
from aiforge.data.fitting import dims_from_data, fill_model_dims, output_dim
from aiforge.errors import DataError


class ListDataset(BaseDataset):
    """A per-item dataset (no as_tensors), as a plugin without tensors would be."""

    def __init__(self, labels: list[float]) -> None:
        self.items = [{"features": torch.ones(2, 3), "labels": torch.tensor(v)} for v in labels]

    def load_data(self, data_path=None, **_):  # pragma: no cover - filled in __init__
        pass

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int):
        return self.items[idx]


def tensor_dataset(labels: torch.Tensor, class_names=None) -> InMemoryDataset:
    class Data(InMemoryDataset):
        def load_data(self, data_path=None, **_):  # pragma: no cover
            pass

    data = Data()
    data.set_tensors(torch.zeros(len(labels), 5), labels)
    data.class_names = class_names
    return data


def test_dims_count_flattened_features_and_classes():
    data = ListDataset([0, 2, 1, 2])
    sample = torch.ones(4, 2, 3)  # a batch as the model sees it
    found = dims_from_data(data, sample, "classification", "CrossEntropyLoss", "p")
    assert found == {"input_dim": 6, "output_dim": 3}


def test_class_names_decide_the_class_count():
    data = tensor_dataset(torch.tensor([0, 1]), class_names=["a", "b", "c"])
    assert output_dim(data, "classification", "CrossEntropyLoss", "p") == 3


def test_labels_outside_the_class_names_range_are_refused():
    # Regression: 3 class_names with labels 1..3 gave output_dim 3, and label 3 crashed the loss later.
    data = tensor_dataset(torch.tensor([1, 2, 3, 1]), class_names=["a", "b", "c"])
    with pytest.raises(
        DataError, match=r"has 3 class_names, so labels must be integers 0\.\.2; .*from 1 to 3"
    ):
        output_dim(data, "classification", "CrossEntropyLoss", "p")
    data = tensor_dataset(torch.tensor([0.0, 1.5]), class_names=["a", "b", "c"])
    with pytest.raises(DataError, match=r"labels must be integers 0\.\.2"):
        output_dim(data, "classification", "CrossEntropyLoss", "p")


def test_regression_and_binary_losses_get_one_output():
    data = tensor_dataset(torch.tensor([0.0, 1.0, 1.0]))
    assert output_dim(data, "regression", "MSELoss", "p") == 1
    assert output_dim(data, "classification", "BCEWithLogitsLoss", "p") == 1


def test_fractional_or_negative_labels_are_not_class_indices():
    with pytest.raises(DataError, match=r"not class indices 0\.\.K-1"):
        output_dim(ListDataset([0.5, 1.0]), "classification", "CrossEntropyLoss", "p")
    with pytest.raises(DataError, match="not class indices"):
        output_dim(tensor_dataset(torch.tensor([-1, 0, 1])), "classification", "CrossEntropyLoss", "p")


def test_bce_with_three_classes_is_refused():
    with pytest.raises(DataError, match=r"BCEWithLogitsLoss needs binary labels 0/1.*3 classes"):
        output_dim(tensor_dataset(torch.tensor([0, 1, 2])), "classification", "BCEWithLogitsLoss", "p")


def test_fill_only_what_is_missing_and_refuse_contradictions():
    config, updates = fill_model_dims(SimpleNNConfig(output_dim=3), {"input_dim": 5, "output_dim": 3})
    assert updates == {"input_dim": 5} and config.input_dim == 5 and config.output_dim == 3
    with pytest.raises(DataError, match=r"model_config.output_dim=4, but the data has 3"):
        fill_model_dims(SimpleNNConfig(output_dim=4), {"input_dim": 5, "output_dim": 3})
    base = ModelSpecificConfig()
    assert fill_model_dims(base, {"input_dim": 5}) == (base, {})
