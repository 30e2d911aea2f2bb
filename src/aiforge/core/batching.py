"""Batches for the loop: tensor slicing for in-memory data, a DataLoader for the rest."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, Item

Shard = tuple[int, int]  # (rank, world size) of a distributed run


class TensorBatches:
    """Batches cut from whole tensors: one shuffle (gather) per epoch, then views.

    No per-item ``__getitem__`` and no collation, which is most of a small model's
    step time in a DataLoader. With ``shard``, each rank takes every world-size-th row of
    the (same) shuffled order, as DistributedSampler does; ``pad`` repeats rows so that every
    rank has as many batches (training), no ``pad`` never counts a row twice (validation).
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        batch_size: int,
        shuffle: bool,
        seed: int,
        shard: Shard | None = None,
        pad: bool = True,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.total = len(next(iter(tensors.values())))
        self.shard = shard
        self.pad = pad
        self.count = len(self._rows(torch.arange(self.total))) if shard else self.total

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    def _rows(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's rows of ``order``."""
        assert self.shard is not None
        rank, world = self.shard
        if self.pad and len(order) % world:
            extra = world - len(order) % world
            order = torch.cat([order, order.repeat(math.ceil(extra / len(order)))[:extra]])
        return order[rank::world]

    def __iter__(self) -> Iterator[Item]:
        tensors = self.tensors
        if self.shuffle or self.shard:
            order = torch.randperm(self.total, generator=self.generator) if self.shuffle else None
            if self.shard:
                order = self._rows(order if order is not None else torch.arange(self.total))
            tensors = {key: value[order] for key, value in tensors.items()}
        for start in range(0, self.count, self.batch_size):
            yield {key: value[start : start + self.batch_size] for key, value in tensors.items()}


class ShardSampler(torch.utils.data.Sampler[int]):
    """Every world-size-th index, in order, no padding: a validation split split across ranks."""

    def __init__(self, length: int, shard: Shard) -> None:
        self.indices = list(range(length))[shard[0] :: shard[1]]

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


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


class CollateThenTransform:
    """A DataLoader ``collate_fn``: stack the raw items, then preprocess the batch in one call.

    For preprocessors with a vectorised ``transform_batch`` (FeatureScaler): one tensor
    operation per batch instead of one per item.
    """

    def __init__(self, preprocessor: BasePreprocessor) -> None:
        self.preprocessor = preprocessor

    def __call__(self, items: list[Item]) -> Item:
        from torch.utils.data import default_collate

        return self.preprocessor.transform_batch(default_collate(items))


def _vectorised(preprocessor: BasePreprocessor | None) -> bool:
    return preprocessor is not None and (
        type(preprocessor).transform_batch is not BasePreprocessor.transform_batch
    )


def make_batches(
    dataset: BaseDataset,
    indices: torch.Tensor,
    preprocessor: BasePreprocessor | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shard: Shard | None = None,
) -> Iterable[Item]:
    """The fast slicing path when the dataset exposes tensors, else a seeded DataLoader.

    With ``shard`` (rank, world size), each rank gets its part: training rows padded to equal
    parts (``shuffle``), validation rows split without repeats.
    """
    tensors = dataset.as_tensors()
    if tensors is not None:
        rows = {key: value[indices] for key, value in tensors.items()}
        if preprocessor is not None:
            rows = preprocessor.transform_batch(rows)
        return TensorBatches(rows, batch_size, shuffle, seed, shard, pad=shuffle)
    vectorised = _vectorised(preprocessor)
    subset = PreprocessedSubset(dataset, indices, None if vectorised else preprocessor)
    collate = CollateThenTransform(preprocessor) if vectorised and preprocessor is not None else None
    if shard is None:
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(subset, batch_size, shuffle=shuffle, generator=generator, collate_fn=collate)
    from torch.utils.data.distributed import DistributedSampler

    sampler: torch.utils.data.Sampler[int] = (
        DistributedSampler(subset, num_replicas=shard[1], rank=shard[0], shuffle=True, seed=seed)
        if shuffle
        else ShardSampler(len(subset), shard)
    )
    return DataLoader(subset, batch_size=batch_size, sampler=sampler, collate_fn=collate)


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
