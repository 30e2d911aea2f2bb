"""The hooks that let a dataset plugin hold raw data: its own row container, texts, augmentation
of training batches, and model-config values the data decides (model_dims)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from aiforge.config.model_configs import SimpleNNConfig
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, InMemoryDataset, Item, stack_features
from aiforge.data.batching import TensorBatches, make_batches
from aiforge.data.fitting import dims_from_data, fill_model_dims
from aiforge.errors import DataError, PluginError


class Words:
    """A row container of the plugin's own: words, indexed like a tensor."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, rows: Any) -> Words:
        if isinstance(rows, slice):
            return Words(self.words[rows])
        return Words([self.words[int(i)] for i in rows])


class WordTable(BaseDataset):
    def load_data(self, data_path: str | None = None) -> None:
        self.words = Words([f"w{i}" for i in range(10)])
        self.labels = torch.arange(10) % 2

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, idx: int) -> Item:
        return {"features": self.words.words[idx], "labels": self.labels[idx]}

    def as_tensors(self) -> dict[str, Any]:
        return {"features": self.words, "labels": self.labels}


class WordNumbers(BasePreprocessor):
    """Fitted on the training words only: each known word's number, unknown ones 0."""

    def fit(self, features: Any) -> None:
        words = features.words if isinstance(features, Words) else list(features)
        self.known = sorted(words)

    def transform(self, data_item: Item) -> Item:
        return self.transform_batch({**data_item, "features": [data_item["features"]]})

    def transform_batch(self, batch: Item) -> Item:
        raw = batch["features"]
        words = raw.words if isinstance(raw, Words) else list(raw)
        numbers = [float(self.known.index(w) + 1) if w in self.known else 0.0 for w in words]
        return {**batch, "features": torch.tensor(numbers).reshape(-1, 1)}

    def model_dims(self) -> dict[str, Any]:
        return {"vocab_size": len(self.known) + 1}


def test_a_row_container_is_fitted_as_itself_and_batched_after_preprocessing() -> None:
    dataset = WordTable()
    dataset.load_data()
    train = torch.tensor([0, 2, 4, 6, 8])
    fitted = stack_features(dataset, train)
    assert isinstance(fitted, Words) and fitted.words == ["w0", "w2", "w4", "w6", "w8"]
    preprocessor = WordNumbers()
    preprocessor.fit(fitted)
    batches = make_batches(dataset, torch.tensor([1, 2]), preprocessor, 2, shuffle=False, seed=0)
    (batch,) = list(batches)
    assert batch["features"].tolist() == [[0.0], [2.0]]  # w1 was never seen in training
    raw = make_batches(dataset, torch.tensor([3, 1]), None, 8, shuffle=True, seed=0)
    assert sorted(next(iter(raw))["features"].words) == ["w1", "w3"]


class Texts(BaseDataset):
    """Items whose features are texts: the DataLoader path."""

    def load_data(self, data_path: str | None = None) -> None:
        self.texts = [f"w{i}" for i in range(10)]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, idx: int) -> Item:
        return {"features": self.texts[idx], "labels": torch.tensor(idx % 2)}


def test_texts_are_fitted_as_a_list_and_collated_before_preprocessing() -> None:
    dataset = Texts()
    dataset.load_data()
    fitted = stack_features(dataset, torch.tensor([5, 3]))
    assert fitted == ["w5", "w3"]
    preprocessor = WordNumbers()
    preprocessor.fit(fitted)
    batches = make_batches(dataset, torch.tensor([3, 4, 5]), preprocessor, 3, shuffle=False, seed=0)
    batch = next(iter(batches))
    assert batch["features"].tolist() == [[1.0], [0.0], [2.0]]  # w3, unknown w4, w5
    assert batch["labels"].tolist() == [1, 0, 1]


class Flip(BasePreprocessor):
    """Augmentation that marks each batch it sees; transform adds 100 so the order is visible."""

    def fit(self, features: Any) -> None:
        self.fitted = True

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": data_item["features"] + 100}

    def transform_batch(self, batch: Item) -> Item:
        return self.transform(batch)

    def augment_batch(self, batch: Item) -> Item:
        assert bool((batch["features"] < 100).all()), "augmentation must see the raw batch"
        return {**batch, "features": -batch["features"]}


class Numbers(InMemoryDataset):
    def load_data(self, data_path: str | None = None) -> None: ...


def numbers(count: int) -> InMemoryDataset:
    dataset = Numbers()
    dataset.set_tensors(torch.arange(1, count + 1, dtype=torch.float32).reshape(-1, 1), torch.zeros(count))
    return dataset


class PerItemNumbers(BaseDataset):
    def __init__(self) -> None:
        super().__init__()
        self.inner = numbers(6)

    def load_data(self, data_path: str | None = None) -> None: ...

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, idx: int) -> Item:
        return self.inner[idx]


@pytest.mark.parametrize("per_item", [False, True], ids=["tensors", "items"])
def test_augmentation_changes_training_batches_only_before_preprocessing(per_item: bool) -> None:
    dataset = PerItemNumbers() if per_item else numbers(6)
    indices = torch.arange(6)
    train = make_batches(dataset, indices, Flip(), 3, shuffle=True, seed=0)
    validation = make_batches(dataset, indices, Flip(), 3, shuffle=False, seed=0)
    for _ in range(2):  # every epoch, not once
        seen = torch.cat([batch["features"] for batch in train])
        assert sorted(seen.flatten().tolist()) == [94.0, 95.0, 96.0, 97.0, 98.0, 99.0]
    assert torch.cat([b["features"] for b in validation]).flatten().tolist() == [
        101.0,
        102.0,
        103.0,
        104.0,
        105.0,
        106.0,
    ]
    if isinstance(train, TensorBatches):
        assert train.per_batch is not None and validation.per_batch is None


def images_dims() -> dict[str, int]:
    return {"input_dim": 192, "output_dim": 2}


class VocabularyConfig(SimpleNNConfig):
    vocab_size: int | None = None


def test_model_dims_fill_declared_fields_and_images_give_in_channels() -> None:
    dataset = WordTable()
    dataset.load_data()
    preprocessor = WordNumbers()
    preprocessor.fit(Words(["a", "b"]))
    found = dims_from_data(
        dataset, torch.zeros(4, 1), "classification", "CrossEntropyLoss", "p", preprocessor
    )
    assert found == {"input_dim": 1, "output_dim": 2, "vocab_size": 3}
    config, updates = fill_model_dims(VocabularyConfig(), found)
    assert updates == found and config.vocab_size == 3
    with pytest.raises(
        DataError, match=r"dataset plugin 'words' gives the model vocab_size=3, .* SimpleNNConfig has no"
    ):
        fill_model_dims(SimpleNNConfig(), found, "words")  # the model would misread the features
    _, updates = fill_model_dims(SimpleNNConfig(), {**images_dims(), "in_channels": 3})
    assert updates == {"input_dim": 192, "output_dim": 2}  # in_channels: a model may ignore it
    images = dims_from_data(dataset, torch.zeros(4, 3, 8, 8), "classification", "CrossEntropyLoss", "p")
    assert images["in_channels"] == 3 and images["input_dim"] == 192


def test_model_dims_that_disagree_with_a_set_value_name_the_field() -> None:
    with pytest.raises(DataError, match=r"model_config.hidden_dim=64, but the data has 3 \(found\)"):
        fill_model_dims(SimpleNNConfig(hidden_dim=64, input_dim=1, output_dim=2), {"hidden_dim": 3})


def test_model_dims_must_be_a_mapping_and_features_a_tensor() -> None:
    class Odd(WordNumbers):
        def model_dims(self) -> Any:
            return [1]

    dataset = WordTable()
    dataset.load_data()
    with pytest.raises(PluginError, match=r"Odd.model_dims\(\) must return a mapping"):
        dims_from_data(dataset, torch.zeros(2, 1), "classification", "CrossEntropyLoss", "p", Odd())
    with pytest.raises(PluginError, match="transform_batch must make one"):
        dims_from_data(dataset, Words(["a"]), "classification", "CrossEntropyLoss", "p")  # type: ignore[arg-type]


class CountRows(BasePreprocessor):
    fit_sample_size = 3

    def fit(self, features: Any) -> None:
        self.rows = len(features)

    def transform(self, data_item: Item) -> Item:
        return data_item


def test_a_per_item_dataset_is_fitted_on_a_sample_when_the_preprocessor_asks() -> None:
    from aiforge.data.fitting import fitted_preprocessor

    train = torch.tensor([5, 0, 3, 1])
    sampled = fitted_preprocessor(CountRows, PerItemNumbers(), train, "p", {})
    assert sampled.rows == 3  # type: ignore[attr-defined]
    in_memory = fitted_preprocessor(CountRows, numbers(6), train, "p", {})
    assert in_memory.rows == 4  # type: ignore[attr-defined]  # data in memory: every training row


class Noise(BasePreprocessor):
    """Augmentation by random noise; ``augments`` says whether any is configured."""

    def __init__(self, augments: bool = True) -> None:
        self.configured = augments

    @property
    def augments(self) -> bool:
        return self.configured

    def fit(self, features: Any) -> None: ...

    def transform(self, data_item: Item) -> Item:
        return data_item

    def transform_batch(self, batch: Item) -> Item:
        return batch

    def augment_batch(self, batch: Item) -> Item:
        return {**batch, "features": batch["features"] + torch.rand(batch["features"].shape)}


def test_augmentation_repeats_with_the_run_s_random_numbers_and_differs_per_rank() -> None:
    from aiforge.data.batching import PrepareBatch

    batch = {"features": torch.zeros(4, 2), "labels": torch.zeros(4)}

    def augmented(rank: int) -> torch.Tensor:
        torch.manual_seed(7)  # what a run seeds, and a resume restores
        return PrepareBatch(Noise(), augment=True, rank=rank)(batch)["features"]

    assert torch.equal(augmented(0), augmented(0))
    assert not torch.equal(augmented(0), augmented(1))


def test_a_preprocessor_without_augmentation_configured_keeps_the_fast_path() -> None:
    plain = make_batches(numbers(6), torch.arange(6), Noise(augments=False), 3, shuffle=True, seed=0)
    assert isinstance(plain, TensorBatches) and plain.per_batch is None
    augmenting = make_batches(numbers(6), torch.arange(6), Noise(), 3, shuffle=True, seed=0)
    assert isinstance(augmenting, TensorBatches) and augmenting.per_batch is not None


def test_a_data_error_while_reading_a_batch_is_the_plugin_s_message_not_a_failure() -> None:
    from aiforge.data.batching import read_batches

    class BadFile(PerItemNumbers):
        def __getitem__(self, idx: int) -> Item:
            raise DataError("photos/cat/3.png is not an image")

    batches = make_batches(BadFile(), torch.arange(6), None, 3, shuffle=False, seed=0)
    with pytest.raises(DataError, match=r"^photos/cat/3.png is not an image$"):
        next(read_batches(batches, "my_images"))
