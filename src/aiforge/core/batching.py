"""Batches for the loop: tensor slicing for in-memory data, a DataLoader for the rest."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, Item


class TensorBatches:
    """Batches cut from whole tensors: one shuffle (gather) per epoch, then views.

    No per-item ``__getitem__`` and no collation, which is most of a small model's
    step time in a DataLoader.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool, seed: int) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.count = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    def __iter__(self) -> Iterator[Item]:
        tensors = self.tensors
        if self.shuffle:
            order = torch.randperm(self.count, generator=self.generator)
            tensors = {key: value[order] for key, value in tensors.items()}
        for start in range(0, self.count, self.batch_size):
            yield {key: value[start : start + self.batch_size] for key, value in tensors.items()}


class PreprocessedSubset(TorchDataset):
    """Some rows of a dataset, each passed through the preprocessor on read (a copy, never in place)."""

    def __init__(
        self, dataset: BaseDataset, indices: torch.Tensor, preprocessor: BasePreprocessor | None
    ) -> None:
        self.dataset = dataset
        self.indices = indices.tolist()
        self.preprocessor = preprocessor

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> Item:
        item = dict(self.dataset[self.indices[position]])
        return self.preprocessor.transform(item) if self.preprocessor else item


def make_batches(
    dataset: BaseDataset,
    indices: torch.Tensor,
    preprocessor: BasePreprocessor | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
) -> Iterable[Item]:
    """The fast slicing path when the dataset exposes tensors, else a seeded DataLoader."""
    tensors = dataset.as_tensors()
    if tensors is not None:
        rows = {key: value[indices] for key, value in tensors.items()}
        if preprocessor is not None:
            rows = preprocessor.transform_batch(rows)
        return TensorBatches(rows, batch_size, shuffle, seed)
    return DataLoader(
        PreprocessedSubset(dataset, indices, preprocessor),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )


def order_state(batches: Any) -> torch.Tensor | None:
    """The state of the generator that shuffles ``batches`` (TensorBatches or a seeded DataLoader).

    Saved at the start of each epoch, it fixes that epoch's order and every later one.
    """
    generator = getattr(batches, "generator", None)
    return generator.get_state() if isinstance(generator, torch.Generator) else None


def restore_order_state(batches: Any, state: torch.Tensor | None) -> None:
    generator = getattr(batches, "generator", None)
    if state is not None and isinstance(generator, torch.Generator):
        generator.set_state(state)


def to_device(batch: Item, device: torch.device) -> Item:
    non_blocking = device.type == "cuda"
    return {
        key: value.to(device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def first_batch(batches: Iterable[Item]) -> Any:
    return next(iter(batches))
