"""A dataset plugin's setup calls, loading its rows and preparing them into batches, with errors
that say which plugin failed and where its data was looked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor
from aiforge.core.plugins import call_plugin
from aiforge.data.batching import LoaderOptions, Shard, make_batches
from aiforge.errors import AIForgeError, DataError, TrainingError


def load_rows(
    dataset: BaseDataset,
    plugin: str,
    data_path: str | None,
    given_path: str | None,
    data_dir: Path,
    dataset_args: dict[str, Any],
) -> None:
    """``dataset.load_data(data_path, **dataset_args)``; a DataError about a ``data_path`` that does
    not exist also says where ``given_path`` (the config's) was looked for; no rows is a DataError."""
    try:
        call_plugin(plugin, "dataset_args", dataset.load_data, data_path, **dataset_args)
    except DataError as err:
        if data_path is None or Path(data_path).exists():
            raise
        places = (
            f"the working directory ({Path.cwd()}), AIFORGE_DATA_DIR ({data_dir}) "
            "and, for a config read from a file, that file's folder"
        )
        raise DataError(f"{err}\n  data_path {given_path!r} was looked for in {places}") from err
    if len(dataset) == 0:
        raise DataError(f"dataset plugin '{plugin}' loaded no rows")


def plugin_batches(
    plugin: str,
    dataset: BaseDataset,
    indices: torch.Tensor,
    preprocessor: BasePreprocessor | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shard: Shard | None = None,
    options: LoaderOptions | None = None,
) -> Any:
    """:func:`make_batches`; a failure of the plugin's code it runs (in-memory rows are preprocessed
    at once) is a TrainingError naming dataset plugin ``plugin`` and the rows."""
    try:
        return make_batches(dataset, indices, preprocessor, batch_size, shuffle, seed, shard, options)
    except AIForgeError:
        raise
    except Exception as err:
        rows = "training" if shuffle else "validation"
        raise TrainingError(
            f"dataset plugin '{plugin}' failed while preparing the {rows} rows "
            f"(as_tensors, or the Preprocessor's transform_batch): {type(err).__name__}: {err}"
        ) from err
