"""Batches for the loop: tensor slicing for in-memory data, a DataLoader for the rest."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, Item
from aiforge.errors import AIForgeError, TrainingError

Shard = tuple[int, int]  # (rank, world size) of a distributed run
CPU = torch.device("cpu")
GPU_SHARE_FOR_DATA = 0.25  # in-memory rows move to the GPU once when they take at most this share


@dataclass(frozen=True)
class LoaderOptions:
    """How batches reach the device: DataLoader workers and pinned memory on the per-item path;
    on the slicing path, rows that fit move to the GPU once instead of batch by batch."""

    device: torch.device = CPU
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False


def loader_options(
    device: torch.device,
    num_workers: int | str = "auto",
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
) -> LoaderOptions:
    """The defaults per device: no workers on the CPU (training needs the cores), up to 4 per
    GPU process; pinned memory with CUDA; workers kept between epochs when there are any."""
    cuda = device.type == "cuda"
    if num_workers == "auto":
        processes_here = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        num_workers = min(4, max(1, (os.cpu_count() or 1) // processes_here)) if cuda else 0
    workers = int(num_workers)
    return LoaderOptions(
        device,
        workers,
        cuda if pin_memory is None else pin_memory and cuda,
        workers > 0 if persistent_workers is None else persistent_workers and workers > 0,
    )


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
        per_batch: Any = None,
    ) -> None:
        self.tensors = tensors
        self.per_batch = per_batch  # run on each batch as it is cut (augmentation, then preprocessing)
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
            assert order is not None
            tensors = {key: _rows_of(value, order) for key, value in tensors.items()}
        for start in range(0, self.count, self.batch_size):
            batch = {key: value[start : start + self.batch_size] for key, value in tensors.items()}
            yield self.per_batch(batch) if self.per_batch is not None else batch


def _rows_of(values: Any, order: torch.Tensor) -> Any:
    """The rows ``order`` of a tensor (on its device) or of a dataset's own row container."""
    return values[order.to(values.device)] if isinstance(values, torch.Tensor) else values[order]


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


class PrepareBatch:
    """One raw batch made ready for the model: augmented (training batches), then preprocessed.

    Augmentation draws from a generator of its own per batch, seeded from torch's random numbers
    (checkpointed, and seeded per DataLoader worker) and the process's ``rank``: the same after
    a resume, and different on each rank of a distributed run, whose random numbers are alike.
    """

    def __init__(self, preprocessor: BasePreprocessor, augment: bool, rank: int = 0) -> None:
        self.preprocessor = preprocessor
        self.augment = augment
        self.rank = rank

    def __call__(self, batch: Item) -> Item:
        if self.augment:
            seed = int(torch.randint(0, 2**62, ())) + self.rank
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                batch = self.preprocessor.augment_batch(batch)
        return self.preprocessor.transform_batch(batch)


class CollateThenTransform(PrepareBatch):
    """A DataLoader ``collate_fn``: stack the raw items, then prepare the batch in one call.

    For preprocessors with a vectorised ``transform_batch`` (FeatureScaler): one tensor
    operation per batch instead of one per item; for augmenting ones, in the loader's workers.
    """

    def __call__(self, items: list[Item]) -> Item:  # type: ignore[override]
        from torch.utils.data import default_collate

        return super().__call__(default_collate(items))


def _vectorised(preprocessor: BasePreprocessor | None) -> bool:
    return preprocessor is not None and (
        type(preprocessor).transform_batch is not BasePreprocessor.transform_batch
    )


def _augments(preprocessor: BasePreprocessor | None) -> bool:
    """Whether the preprocessor augments: it overrides ``augment_batch`` and (when it says so) has
    augmentation configured (``augments``), so a run without any keeps the fast path."""
    return (
        preprocessor is not None
        and type(preprocessor).augment_batch is not BasePreprocessor.augment_batch
        and bool(getattr(preprocessor, "augments", True))
    )


def make_batches(
    dataset: BaseDataset,
    indices: torch.Tensor,
    preprocessor: BasePreprocessor | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shard: Shard | None = None,
    options: LoaderOptions | None = None,
) -> Iterable[Item]:
    """The fast slicing path when the dataset exposes tensors, else a seeded DataLoader.

    With ``shard`` (rank, world size), each rank gets its part: training rows padded to equal
    parts (``shuffle``), validation rows split without repeats.
    """
    options = options or LoaderOptions()
    augment = shuffle and _augments(preprocessor)  # training batches only
    tensors = dataset.as_tensors()
    if tensors is not None:
        rows = {key: value[indices] for key, value in tensors.items()}
        per_batch = None
        if preprocessor is not None and augment:  # a new random change per batch, every epoch
            per_batch = PrepareBatch(preprocessor, augment=True, rank=shard[0] if shard else 0)
        elif preprocessor is not None:  # once for the whole split
            rows = preprocessor.transform_batch(rows)
        rows = _on_device_if_fits(rows, options.device)
        return TensorBatches(rows, batch_size, shuffle, seed, shard, pad=shuffle, per_batch=per_batch)
    vectorised = _vectorised(preprocessor) or augment
    rank = shard[0] if shard else 0
    collate = (
        CollateThenTransform(preprocessor, augment, rank) if vectorised and preprocessor is not None else None
    )
    if shard is None and (preprocessor is None or vectorised):
        # The plugin's own items, picked by the sampler: no wrapper call per item.
        sampler = RowSampler(indices, shuffle, seed)
        return EpochSeededLoader(dataset, batch_size, sampler, collate, options, seed)
    subset = PreprocessedSubset(dataset, indices, None if vectorised else preprocessor)
    from torch.utils.data.distributed import DistributedSampler

    if shard is None:
        sampler = RowSampler(torch.arange(len(subset)), shuffle, seed)
    elif shuffle:
        sampler = DistributedSampler(subset, num_replicas=shard[1], rank=shard[0], shuffle=True, seed=seed)
    else:
        sampler = ShardSampler(len(subset), shard)
    return EpochSeededLoader(subset, batch_size, sampler, collate, options, seed)


class RowSampler(torch.utils.data.Sampler[int]):
    """A split's dataset rows: in a new order each pass (its own generator, which checkpoints
    save), or as they are."""

    def __init__(self, rows: torch.Tensor, shuffle: bool, seed: int) -> None:
        self.rows = rows
        self.generator = torch.Generator().manual_seed(seed) if shuffle else None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[int]:
        if self.generator is None:
            return iter(self.rows.tolist())
        return iter(self.rows[torch.randperm(len(self.rows), generator=self.generator)].tolist())


class EpochSeededLoader(DataLoader):
    """A DataLoader whose shuffle has its own generator (saved in checkpoints) and whose worker
    seeds follow from where the data order stands: the same batches with or without workers,
    and after a resume. A loader that does not shuffle seeds its workers alike on every pass.
    Persistent workers are seeded once, when they start: random numbers drawn inside them
    (augmentations) do not repeat exactly after a resume."""

    def __init__(
        self,
        subset: TorchDataset,
        batch_size: int,
        sampler: torch.utils.data.Sampler[int],
        collate: Any,
        options: LoaderOptions,
        seed: int,
    ) -> None:
        super().__init__(
            subset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(seed),
            num_workers=options.num_workers,
            pin_memory=options.pin_memory,
            persistent_workers=options.persistent_workers,
        )
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        """Before each training epoch; persistent workers keep the seeds of the epoch they began in."""
        assert self.generator is not None
        order = _order_generator(self)
        basis = order.get_state().numpy().tobytes() if order is not None else f"{self.seed}/{epoch}".encode()
        self.generator.manual_seed(int.from_bytes(hashlib.blake2b(basis, digest_size=7).digest(), "big"))
        set_sampler_epoch = getattr(self.sampler, "set_epoch", None)
        if set_sampler_epoch is not None:  # DistributedSampler: the epoch picks the shuffle
            set_sampler_epoch(epoch)

    def __iter__(self) -> Any:
        if _order_generator(self) is None and not hasattr(self.sampler, "set_epoch"):
            assert self.generator is not None
            self.generator.manual_seed(self.seed)  # validation: every pass alike
        return super().__iter__()


def _on_device_if_fits(rows: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """On a GPU with room to spare, the rows live there: no copy per batch, shuffles on the GPU."""
    if device.type != "cuda" or not all(isinstance(value, torch.Tensor) for value in rows.values()):
        return rows
    size = sum(value.numel() * value.element_size() for value in rows.values())
    free, _ = torch.cuda.mem_get_info(device)
    if size > GPU_SHARE_FOR_DATA * free:
        return rows
    return {key: value.to(device) for key, value in rows.items()}


def order_state(batches: Any) -> torch.Tensor | None:
    """The state of the generator that shuffles ``batches`` (TensorBatches or a seeded DataLoader).

    Saved at the start of each epoch, it fixes that epoch's order and every later one.
    """
    generator = _order_generator(batches)
    return generator.get_state() if generator is not None else None


def restore_order_state(batches: Any, state: torch.Tensor | None) -> None:
    generator = _order_generator(batches)
    if state is not None and generator is not None:
        generator.set_state(state)


def set_batches_epoch(batches: Any, epoch: int) -> None:
    """Tell ``batches`` (or its sampler) the epoch: worker seeds; under DistributedSampler, the shuffle."""
    set_epoch = getattr(batches, "set_epoch", None) or getattr(
        getattr(batches, "sampler", None), "set_epoch", None
    )
    if set_epoch is not None:
        set_epoch(epoch)


def _order_generator(batches: Any) -> torch.Generator | None:
    """The generator that shuffles: the sampler's in a DataLoader, TensorBatches' own."""
    owner = batches.sampler if isinstance(batches, DataLoader) else batches
    generator = getattr(owner, "generator", None)
    return generator if isinstance(generator, torch.Generator) else None


def to_device(batch: Item, device: torch.device) -> Item:
    if device.type == "cpu":  # datasets and loaders give CPU tensors: nothing to move, per batch
        return batch
    non_blocking = device.type == "cuda"
    return {
        key: value.to(device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def first_batch(
    batches: Iterable[Item], dataset_name: str | None = None, where: str = "batch {batch}"
) -> Any:
    """The first batch; with ``dataset_name``, a failure in the plugin's code names it and ``where``."""
    if dataset_name is None:
        return next(iter(batches))
    return next(read_batches(batches, dataset_name, where))


def read_batches(batches: Iterable[Item], dataset_name: str, where: str = "batch {batch}") -> Iterator[Item]:
    """The loader's batches; a failure inside the dataset plugin (its Dataset or Preprocessor) names
    the plugin and the batch (``where``, with ``{batch}`` its 1-based number). Built-in tensor
    batches run no plugin code: read directly, without a wrapper per batch."""
    if isinstance(batches, TensorBatches) and batches.per_batch is None:
        return iter(batches)
    return _plugin_batches(batches, dataset_name, where)


def _plugin_batches(batches: Iterable[Item], dataset_name: str, where: str) -> Iterator[Item]:
    iterator: Iterator[Item] | None = None
    number = 0
    while True:
        number += 1
        try:
            if iterator is None:  # not `iterator or ...`: that would call len() on it per batch
                iterator = iter(batches)
            batch = next(iterator)
        except StopIteration:
            return
        except AIForgeError:  # the plugin saying on purpose that the data is wrong (a bad file)
            raise
        except Exception as err:
            raise TrainingError(
                f"dataset plugin '{dataset_name}' failed while reading a batch: {type(err).__name__}: {err} "
                f"({where.format(batch=number)})"
            ) from err
        yield batch
