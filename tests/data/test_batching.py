"""Batches: tensor slicing for in-memory data, a seeded DataLoader for per-item datasets."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, InMemoryDataset, Item
from aiforge.data.batching import PreprocessedSubset, TensorBatches, first_batch, make_batches, to_device
from aiforge.data.scaling import FeatureScaler


def numbered(count: int) -> dict[str, torch.Tensor]:
    """Row i has features [i, 10*i] and label i, so rows can be traced through batching."""
    rows = torch.arange(count)
    return {"features": torch.stack([rows, rows * 10], dim=1).float(), "labels": rows}


def epoch_rows(batches: TensorBatches) -> list[int]:
    rows: list[int] = []
    for batch in batches:
        assert torch.equal(batch["features"][:, 0].long(), batch["labels"])  # rows stay paired
        rows += batch["labels"].tolist()
    return rows


# -- TensorBatches --------------------------------------------------------------------------------
def test_every_row_once_per_epoch_with_a_partial_last_batch() -> None:
    batches = TensorBatches(numbered(23), batch_size=5, shuffle=True, seed=0)
    assert len(batches) == 5
    for _ in range(3):
        sizes = [len(batch["labels"]) for batch in batches]
        assert sizes == [5, 5, 5, 5, 3]
        assert sorted(epoch_rows(batches)) == list(range(23))


def test_batch_size_larger_than_data_gives_one_batch() -> None:
    batches = TensorBatches(numbered(4), batch_size=10, shuffle=True, seed=0)
    assert len(batches) == 1
    assert sorted(epoch_rows(batches)) == [0, 1, 2, 3]


def test_shuffle_differs_per_epoch_and_is_reproducible_per_seed() -> None:
    first = TensorBatches(numbered(50), batch_size=8, shuffle=True, seed=3)
    again = TensorBatches(numbered(50), batch_size=8, shuffle=True, seed=3)
    other = TensorBatches(numbered(50), batch_size=8, shuffle=True, seed=4)
    epochs = [epoch_rows(first) for _ in range(3)]
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    assert epochs[0] != list(range(50))
    assert [epoch_rows(again) for _ in range(3)] == epochs
    assert epoch_rows(other) != epochs[0]


def test_no_shuffle_keeps_order_and_shares_no_state() -> None:
    tensors = numbered(10)
    batches = TensorBatches(tensors, batch_size=4, shuffle=False, seed=0)
    assert epoch_rows(batches) == list(range(10))
    assert epoch_rows(batches) == list(range(10))
    assert torch.equal(tensors["labels"], torch.arange(10))  # shuffling never reorders the source


# -- PreprocessedSubset ---------------------------------------------------------------------------
class ListDataset(BaseDataset):
    """Items kept as dicts and handed out as stored, like the seed's dataset."""

    def __init__(self, count: int = 6) -> None:
        self.items = [
            {"features": torch.tensor([float(i), 1.0]), "labels": torch.tensor(i)} for i in range(count)
        ]

    def load_data(self, data_path: str | None, **dataset_args: Any) -> None: ...

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> Item:
        return self.items[idx]


class SeedStylePreprocessor(BasePreprocessor):
    """Writes the result back into the dict it is given, as the seed's transform did."""

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.mean = features.mean(dim=0)

    def transform(self, data_item: Item) -> Item:
        data_item["features"] = data_item["features"] - self.mean
        return data_item


def test_preprocessed_subset_never_changes_stored_items() -> None:
    dataset = ListDataset()
    preprocessor = SeedStylePreprocessor()
    preprocessor.fit(torch.stack([item["features"] for item in dataset.items]))  # mean [2.5, 1]
    subset = PreprocessedSubset(dataset, torch.tensor([4, 1]), preprocessor)
    assert len(subset) == 2
    first = [subset[i]["features"].tolist() for i in range(2)]
    second = [subset[i]["features"].tolist() for i in range(2)]
    assert first == second == [[1.5, 0.0], [-1.5, 0.0]]  # normalised once, not again on each read
    assert [item["features"].tolist() for item in dataset.items] == [[float(i), 1.0] for i in range(6)]
    assert subset[0]["labels"].item() == 4


def test_preprocessed_subset_without_preprocessor_returns_rows() -> None:
    subset = PreprocessedSubset(ListDataset(), torch.tensor([2, 0]), None)
    assert [subset[i]["labels"].item() for i in range(2)] == [2, 0]


# -- make_batches ---------------------------------------------------------------------------------
def fitted_scaler(features: torch.Tensor) -> FeatureScaler:
    scaler = FeatureScaler()
    scaler.fit(features)
    return scaler


class Numbered(InMemoryDataset):
    def load_data(self, data_path: str | None, count: int = 12, **_: Any) -> None:
        self.set_tensors(**numbered(count))


def test_make_batches_slices_in_memory_data_and_preprocesses_a_copy() -> None:
    dataset = Numbered()
    dataset.load_data(None)
    original = dataset.features.clone()
    indices = torch.tensor([0, 3, 5, 7, 9])
    scaler = fitted_scaler(dataset.features[indices])
    batches = make_batches(dataset, indices, scaler, batch_size=2, shuffle=False, seed=0)
    assert isinstance(batches, TensorBatches)
    rows = list(batches)
    assert [len(batch["labels"]) for batch in rows] == [2, 2, 1]
    assert torch.cat([batch["labels"] for batch in rows]).tolist() == indices.tolist()
    features = torch.cat([batch["features"] for batch in rows])
    assert torch.allclose(features.mean(dim=0), torch.zeros(2), atol=1e-6)
    assert torch.equal(dataset.features, original)


def test_make_batches_uses_a_seeded_dataloader_for_per_item_data() -> None:
    dataset = ListDataset(count=20)
    indices = torch.arange(20)

    def orders(seed: int) -> list[list[int]]:
        loader = make_batches(dataset, indices, None, batch_size=6, shuffle=True, seed=seed)
        assert isinstance(loader, DataLoader)
        return [torch.cat([b["labels"] for b in loader]).tolist() for _ in range(2)]

    epochs = orders(seed=1)
    assert all(sorted(epoch) == list(range(20)) for epoch in epochs)
    assert epochs[0] != epochs[1]
    assert orders(seed=1) == epochs
    assert orders(seed=2) != epochs


def test_make_batches_per_item_path_applies_the_preprocessor() -> None:
    dataset = ListDataset(count=5)
    scaler = fitted_scaler(torch.stack([item["features"] for item in dataset.items]))
    loader = make_batches(dataset, torch.arange(5), scaler, batch_size=5, shuffle=False, seed=0)
    batch = first_batch(loader)
    assert batch["features"].shape == (5, 2)
    assert torch.allclose(
        batch["features"][:, 0], (torch.arange(5.0) - 2) / torch.arange(5.0).std(unbiased=False)
    )
    assert torch.equal(batch["features"][:, 1], torch.zeros(5))  # constant column: centred, not NaN
    assert dataset.items[0]["features"].tolist() == [0.0, 1.0]


def test_to_device_moves_tensors_and_keeps_other_values() -> None:
    batch = {"features": torch.ones(2), "ids": ["a", "b"]}
    moved = to_device(batch, torch.device("meta"))  # a device that is not the CPU, on any machine
    assert moved["ids"] == ["a", "b"] and moved["features"].device.type == "meta"
    assert batch["features"].device.type == "cpu"  # the loader's batch is left as it was
    assert to_device(batch, torch.device("cpu")) is batch  # CPU batches need no copy per step


@pytest.mark.parametrize("shuffle", [True, False])
def test_first_batch_is_a_full_batch(shuffle: bool) -> None:
    batch = first_batch(TensorBatches(numbered(9), batch_size=4, shuffle=shuffle, seed=0))
    assert batch["features"].shape == (4, 2)


class CountingScaler(FeatureScaler):
    """A vectorised preprocessor that counts how often it is called."""

    calls = 0

    def transform(self, data_item: Item) -> Item:
        CountingScaler.calls += 1
        return super().transform(data_item)


def test_per_item_data_with_a_vectorised_preprocessor_is_transformed_once_per_batch() -> None:
    dataset = ListDataset(count=10)
    indices = torch.tensor([9, 2, 5, 0, 7, 3, 1])
    scaler = CountingScaler()
    scaler.fit(torch.stack([dataset[int(i)]["features"] for i in indices]))
    per_item = PreprocessedSubset(dataset, indices, scaler)
    expected = torch.stack([per_item[i]["features"] for i in range(len(indices))])  # one call per row
    CountingScaler.calls = 0
    batches = list(make_batches(dataset, indices, scaler, batch_size=3, shuffle=False, seed=0))
    assert CountingScaler.calls == len(batches) == 3  # one call per batch, not per row
    assert torch.equal(torch.cat([batch["features"] for batch in batches]), expected)
    assert [item["features"].tolist() for item in dataset.items][9] == [9.0, 1.0]  # stored rows untouched


def test_read_batches_names_the_dataset_plugin_and_reads_tensor_batches_directly() -> None:
    from aiforge.data.batching import read_batches
    from aiforge.training.step_failures import TrainingError

    class Broken:
        def __iter__(self):
            yield {"features": torch.zeros(1)}
            raise OSError("disk gone")

    reader = read_batches(Broken(), "my_data")
    assert next(reader)["features"].shape == (1,)
    with pytest.raises(TrainingError, match="dataset plugin 'my_data' failed while reading a batch: OSError"):
        next(reader)
    tensors = TensorBatches({"features": torch.arange(4.0), "labels": torch.arange(4)}, 2, False, 0)
    assert [len(b["labels"]) for b in read_batches(tensors, "my_data")] == [2, 2]
