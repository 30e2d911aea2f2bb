"""Datasets and preprocessors: the contract of dataset plugins, and the train/val split."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from aiforge.errors import DataError

Item = dict[str, Any]


class BaseDataset(Dataset, ABC):
    """A dataset plugin's ``Dataset``: ``load_data`` fills it, items are dicts.

    Each item is ``{"features": Tensor, "labels": Tensor}``; features may also be raw values
    that the plugin's Preprocessor turns into tensors in ``transform_batch`` (texts). A dataset
    that can describe itself may also set ``class_names`` (classification) so predictions
    can be mapped back to the original labels.

    Optional hooks, looked up by name (a plugin defines only what it needs):

    - ``features_from_table(frame, source)``: the raw features for the rows of a pandas
      DataFrame of raw input columns, for ``aiforge predict --input TABLE`` (without it, the
      table's feature columns are read as numbers);
    - ``reading_state()`` and ``restore_reading(state)``: what ``features_from_table`` needs, as
      JSON-able data (column kinds, the text column), and setting it on a fresh instance (a bad
      state is a ValueError): the MLflow model of a raw-input run reads tables without the data;
    - ``features_from_files(paths)``: the raw features of image files, stacked, for
      ``aiforge predict --input FOLDER_OR_FILE``; ``file_suffixes``: the suffixes of the files
      in an input folder to read (others are left out);
    - ``model_dims()``: model-config values the data decides (also on the Preprocessor):
      each fills the model config field of that name when the config declares it and leaves
      it unset, like ``input_dim`` and ``output_dim``; a model whose config lacks one of them
      is refused (it would misread the features).
    """

    class_names: list[str] | None = None

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, idx: int) -> Item: ...

    @abstractmethod
    def load_data(self, data_path: str | None, **dataset_args: Any) -> None:
        """Read or generate the data; ``dataset_args`` come from the config."""

    def as_tensors(self) -> dict[str, Any] | None:
        """All items as stacked tensors, when the data lives in memory (enables fast batching).

        ``features`` may instead be a row container of the plugin's own (a table of mixed
        columns) that supports ``len``, indexing by a tensor of row numbers and slicing; the
        Preprocessor's ``transform_batch`` must then turn it into a tensor.
        """
        return None


class InMemoryDataset(BaseDataset):
    """A dataset held as two tensors; batches are taken by slicing, not per-item collation."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.empty(0)
        self.labels = torch.empty(0)

    def set_tensors(self, features: Any, labels: Any) -> None:
        """Store the data; floating features become torch's default dtype (float32), as models expect.

        Integer features (token ids, say) are kept as they are.
        """
        features, labels = torch.as_tensor(features), torch.as_tensor(labels)
        if len(features) != len(labels):
            raise DataError(f"{len(features)} feature rows but {len(labels)} labels")
        if features.is_floating_point():
            features = features.to(torch.get_default_dtype())
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, idx: int) -> Item:
        return {"features": self.features[idx], "labels": self.labels[idx]}

    def as_tensors(self) -> dict[str, torch.Tensor]:
        return {"features": self.features, "labels": self.labels}


class BasePreprocessor(ABC):
    """A dataset plugin's ``Preprocessor``: fitted on the training split only.

    ``transform`` must return a new item and leave its input untouched; the
    stored dataset is never changed. State is saved as tensors (safetensors)
    and JSON, never pickle: keep fitted values in tensor or JSON-able attributes,
    or override ``state_dict``/``load_state_dict``.
    """

    # With data read item by item (not in memory), fit on at most this many training rows, a
    # random sample (the training rows are in a seeded random order): statistics of images need
    # not hold every image at once. None: every training row.
    fit_sample_size: int | None = None

    @abstractmethod
    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        """Learn from the training split's features, stacked as one tensor ``[N, ...]``."""

    @abstractmethod
    def transform(self, data_item: Item) -> Item:
        """Return a transformed copy of one item."""

    def augment_batch(self, batch: Item) -> Item:
        """Random changes to a TRAINING batch as read (before ``transform_batch``); none by default.

        Override for augmentation: AIForge calls it on training batches only, once per batch (in
        the DataLoader's workers when there are any), with torch's random numbers seeded for
        that batch (from the run's random numbers and the process's rank: a resumed run repeats
        them, and each rank of a distributed run draws its own). A preprocessor with an
        ``augments`` attribute that is false is not called (no augmentation configured).
        """
        return batch

    def inverse_transform(self, data_item: Item) -> Item:
        """Undo ``transform`` where that is possible."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse_transform")

    def transform_batch(self, batch: Item) -> Item:
        """Transform a batch of stacked items; override with a vectorised version."""
        count = len(batch["features"])
        items = [self.transform({k: v[i] for k, v in batch.items()}) for i in range(count)]
        return {key: torch.stack([item[key] for item in items]) for key in items[0]} if items else batch

    def state_dict(self) -> dict[str, Any]:
        """Fitted state: tensor and JSON-able attributes."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set each key as an attribute; a ValueError names keys that are not public attribute
        names or would replace a method or property (a saved file is data)."""
        from aiforge.runs.preprocessor_state import key_problems

        problems = key_problems(self, state)
        if problems:
            raise ValueError("; ".join(problems))
        for key, value in state.items():
            setattr(self, key, value)

    def save(self, path: str | Path) -> None:
        """Write the state as safetensors, non-tensor values as JSON metadata (no pickle)."""
        from safetensors.torch import save_file

        from aiforge.runs.files import atomic_path

        tensors, metadata = self.serialisable_state()
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)

    def serialisable_state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The state split into tensors and JSON metadata; TypeError names what cannot be saved."""
        state = self.state_dict()
        # Cloned: safetensors refuses tensors that share memory (views of one another).
        tensors = {k: v.detach().clone() for k, v in state.items() if isinstance(v, torch.Tensor)}
        others = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
        try:
            metadata = {"json": json.dumps(others), "class": type(self).__qualname__}
        except TypeError as err:
            bad = [k for k, v in others.items() if not _json_able(v)]
            raise TypeError(
                f"{type(self).__name__} state must be tensors or JSON-able values; "
                f"cannot save attribute(s) {bad}: {err}"
            ) from None
        return tensors, metadata

    def load(self, path: str | Path) -> None:
        """Read a state written by :meth:`save`, into a fresh instance.

        The file is data: a key stored twice, or a state that ``load_state_dict`` refuses with a
        ValueError or TypeError (the base one refuses keys that would replace a method), is a
        DataError naming the file.
        """
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            tensors: dict[str, Any] = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            text = (handle.metadata() or {}).get("json", "{}")
        try:
            others = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: its JSON metadata cannot be read: {err}") from None
        if not isinstance(others, dict):
            raise DataError(f"{path}: its JSON metadata must be a JSON object, not {type(others).__name__}")
        twice = sorted(set(tensors) & set(others))
        if twice:
            raise DataError(
                f"{path} is not a saved state of {type(self).__name__}: key(s) {twice} are stored "
                f"twice (tensor and JSON). {_REMEDY}"
            )
        try:
            self.load_state_dict({**tensors, **others})
        except (ValueError, TypeError) as err:
            raise DataError(
                f"{path} is not a usable state of {type(self).__name__}: {err}. {_REMEDY}"
            ) from None


_REMEDY = "The file was changed or damaged: restore the run folder's own copy, or train the run again"


def _json_able(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random train/validation split of ``range(count)``."""
    val_count = round(count * val_fraction)
    if count < 2 or val_count < 1 or val_count >= count:
        raise DataError(
            f"the dataset has {count} rows: val_fraction={val_fraction} leaves "
            f"{count - val_count} for training and {val_count} for validation; both need at least 1"
        )
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[val_count:], order[:val_count]


def split_with_test(
    count: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, validation and held-out test rows of ``range(count)``, both fractions of all rows.

    The test rows are taken out first (seeded); the remaining rows, in their original order, are
    then split exactly as :func:`split_indices` splits a dataset of that size, so the test split
    never depends on ``val_fraction``. ``test_fraction`` 0 gives today's split and no test rows.
    """
    if test_fraction <= 0:
        train, val = split_indices(count, val_fraction, seed)
        return train, val, torch.empty(0, dtype=torch.long)
    test_count = round(count * test_fraction)
    val_count = round(count * val_fraction)
    if test_count < 1 or count - test_count - val_count < 1 or val_count < 1:
        raise DataError(
            f"the dataset has {count} rows: test_fraction={test_fraction} and val_fraction={val_fraction} "
            f"leave {count - test_count - val_count} for training, {val_count} for validation and "
            f"{test_count} for the test split; each needs at least 1"
        )
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    test, rest = order[:test_count], order[test_count:].sort().values
    inner = torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))
    return rest[inner[val_count:]], rest[inner[:val_count]], test


def stack_features(dataset: BaseDataset, indices: torch.Tensor) -> Any:
    """The features of the given rows, for fitting a preprocessor: one tensor ``[N, ...]``; the
    dataset's own row container when ``as_tensors`` holds one (a table of mixed columns); a list
    when the items' features are texts."""
    tensors = dataset.as_tensors()
    if tensors is not None:
        return tensors["features"][indices]
    features = [dataset[int(i)]["features"] for i in indices]
    if features and isinstance(features[0], str | bytes):
        return features
    return torch.stack([torch.as_tensor(value) for value in features])
