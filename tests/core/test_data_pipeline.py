"""The dataset and preprocessor contracts, the seeded split, and feature stacking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from aiforge.core.data_pipeline import (
    BaseDataset,
    BasePreprocessor,
    InMemoryDataset,
    Item,
    split_indices,
    stack_features,
)
from aiforge.errors import DataError


# -- split_indices --------------------------------------------------------------------------------
def test_split_is_disjoint_covering_and_sized() -> None:
    train, val = split_indices(101, 0.2, seed=1)
    assert len(val) == 20 and len(train) == 81
    assert sorted(train.tolist() + val.tolist()) == list(range(101))
    assert not set(train.tolist()) & set(val.tolist())


def test_split_is_seeded() -> None:
    first = split_indices(50, 0.3, seed=5)
    again = split_indices(50, 0.3, seed=5)
    other = split_indices(50, 0.3, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])
    assert not torch.equal(first[1], torch.arange(15))  # shuffled, not the first rows


def test_split_does_not_touch_the_global_rng() -> None:
    state = torch.random.get_rng_state()
    split_indices(30, 0.2, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize(("count", "fraction"), [(0, 0.2), (1, 0.5), (2, 0.1), (3, 0.9)])
def test_split_with_too_few_rows_is_a_data_error(count: int, fraction: float) -> None:
    with pytest.raises(DataError, match=f"the dataset has {count} rows"):
        split_indices(count, fraction, seed=0)


def test_smallest_possible_split() -> None:
    train, val = split_indices(2, 0.5, seed=0)
    assert len(train) == len(val) == 1


# -- datasets -------------------------------------------------------------------------------------
class Tensors(InMemoryDataset):
    def load_data(self, data_path: str | None, count: int = 6, **_: Any) -> None:
        features = torch.arange(count * 2, dtype=torch.float32).reshape(count, 2)
        self.set_tensors(features, torch.arange(count) % 2)


class Items(BaseDataset):
    def __init__(self) -> None:
        self.items: list[Item] = []

    def load_data(self, data_path: str | None, count: int = 6, **_: Any) -> None:
        self.items = [
            {"features": [float(2 * i), float(2 * i + 1)], "labels": i % 2} for i in range(count)
        ]  # plain lists: stack_features converts them

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> Item:
        return self.items[idx]


def test_in_memory_dataset_items_and_tensors() -> None:
    dataset = Tensors()
    dataset.load_data(None)
    assert len(dataset) == 6
    assert dataset[2]["features"].tolist() == [4.0, 5.0] and dataset[2]["labels"].item() == 0
    assert set(dataset.as_tensors()) == {"features", "labels"}


def test_set_tensors_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError, match="5 feature rows but 4 labels"):
        Tensors().set_tensors(torch.zeros(5, 2), torch.zeros(4))


def test_set_tensors_makes_float_features_float32_and_keeps_integer_features() -> None:
    # Regression: float64 features (numpy, pandas) were stored as is, and float32 models failed on them.
    dataset = Tensors()
    dataset.set_tensors(torch.rand(4, 2, dtype=torch.float64), torch.tensor([0, 1, 0, 1]))
    assert dataset.features.dtype == torch.float32
    assert dataset.labels.dtype == torch.int64
    dataset.set_tensors(np.linspace(0.0, 1.0, 8).reshape(4, 2), np.array([0, 1, 1, 0]))
    assert dataset.features.dtype == torch.float32 and dataset.features[3, 1].item() == 1.0
    assert isinstance(dataset.labels, torch.Tensor) and dataset.labels.tolist() == [0, 1, 1, 0]
    token_ids = torch.tensor([[3, 1], [2, 7], [5, 5], [0, 4]])
    dataset.set_tensors(token_ids, torch.tensor([0, 1, 0, 1]))
    assert dataset.features.dtype == torch.int64 and torch.equal(dataset.features, token_ids)


def test_base_dataset_needs_the_abstract_methods() -> None:
    class Incomplete(BaseDataset):
        def __len__(self) -> int:
            return 0

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]
    assert Items().as_tensors() is None


@pytest.mark.parametrize("dataset_class", [Tensors, Items])
def test_stack_features_of_chosen_rows(dataset_class: type[BaseDataset]) -> None:
    dataset = dataset_class()
    dataset.load_data(None)
    stacked = stack_features(dataset, torch.tensor([4, 1]))
    assert torch.equal(stacked, torch.tensor([[8.0, 9.0], [2.0, 3.0]]))


# -- preprocessors --------------------------------------------------------------------------------
class Centre(BasePreprocessor):
    """Tensor state and JSON-able state side by side; ``_cache`` is private and not saved."""

    def __init__(self) -> None:
        self.mean: torch.Tensor | None = None
        self.columns: list[str] = []
        self.options: dict[str, Any] = {}
        self.count = 0
        self._cache = object()

    def fit(self, features: torch.Tensor, name: str = "x", **preprocess_args: Any) -> None:
        self.mean = features.float().mean(dim=0)
        self.columns = [f"{name}{i}" for i in range(features.shape[1])]
        self.options = {"name": name, "nested": {"flag": True, "ratio": 0.5}, "none": None}
        self.count = len(features)

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": data_item["features"] - self.mean}


def test_custom_preprocessor_state_round_trips(tmp_path: Path) -> None:
    original = Centre()
    original.fit(torch.tensor([[1.0, 2.0], [3.0, 6.0]]), name="col")
    path = tmp_path / "pre.safetensors"
    original.save(path)
    loaded = Centre()
    loaded.load(path)
    assert torch.equal(loaded.mean, torch.tensor([2.0, 4.0]))
    assert loaded.columns == ["col0", "col1"]
    assert loaded.options == {"name": "col", "nested": {"flag": True, "ratio": 0.5}, "none": None}
    assert loaded.count == 2
    assert "_cache" not in original.state_dict()


def test_state_that_is_not_json_or_tensor_cannot_be_saved(tmp_path: Path) -> None:
    class Opaque(Centre):
        def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
            self.thing = object()

    preprocessor = Opaque()
    preprocessor.fit(torch.zeros(2, 2))
    with pytest.raises(TypeError, match="Opaque state must be tensors or JSON-able values"):
        preprocessor.save(tmp_path / "pre.safetensors")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_default_transform_batch_goes_item_by_item() -> None:
    seen: list[int] = []

    class Recording(Centre):
        def transform(self, data_item: Item) -> Item:
            seen.append(int(data_item["labels"]))
            return super().transform(data_item)

    preprocessor = Recording()
    preprocessor.fit(torch.tensor([[1.0, 1.0], [3.0, 3.0]]))
    batch = {
        "features": torch.tensor([[0.0, 2.0], [4.0, 6.0], [2.0, 2.0]]),
        "labels": torch.tensor([7, 8, 9]),
    }
    out = preprocessor.transform_batch(batch)
    assert seen == [7, 8, 9]
    assert torch.equal(out["features"], torch.tensor([[-2.0, 0.0], [2.0, 4.0], [0.0, 0.0]]))
    assert torch.equal(out["labels"], torch.tensor([7, 8, 9]))
    assert torch.equal(batch["features"][0], torch.tensor([0.0, 2.0]))  # input left alone


def test_default_transform_batch_of_nothing() -> None:
    preprocessor = Centre()
    preprocessor.fit(torch.ones(2, 2))
    empty = {"features": torch.zeros(0, 2), "labels": torch.zeros(0)}
    assert preprocessor.transform_batch(empty)["features"].shape == (0, 2)


def test_default_inverse_transform_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="Centre has no inverse_transform"):
        Centre().inverse_transform({"features": torch.zeros(2)})
