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


def resolve_data_path(data_path: str | None, data_dir: Path) -> tuple[str | None, str | None]:
    """``data_path`` as given (absolute or from the working directory), else under AIFORGE_DATA_DIR;
    and, when it exists, its absolute form for the saved config (so a rerun finds it again)."""
    if data_path is None:
        return None, None
    path = Path(data_path).expanduser()
    if not path.is_absolute() and not path.exists() and (data_dir / path).exists():
        path = data_dir / path
    return str(path), str(path.resolve()) if path.exists() else None


FILE_ARGUMENT_SUFFIX = "_file"  # dataset_args/preprocess_args keys that name a file (tokenizer_file)


def resolve_file_arguments(arguments: dict[str, Any], data_dir: Path) -> dict[str, Any] | None:
    """``arguments`` with each relative path under a key ending in ``_file`` made absolute when
    the file is found (as given, else under AIFORGE_DATA_DIR), like ``data_path``: the run's
    config.yaml then names it wherever a later command (predict, a rerun) starts. None: no change."""
    resolved = dict(arguments)
    for key, value in arguments.items():
        if isinstance(key, str) and key.endswith(FILE_ARGUMENT_SUFFIX) and isinstance(value, str) and value:
            try:
                _, absolute = resolve_data_path(value, data_dir)
            except (OSError, ValueError):  # a name no file can have: the plugin says why
                continue
            if absolute is not None and absolute != value:
                resolved[key] = absolute
    return resolved if resolved != arguments else None


def load_test_file(
    dataset_class: type[BaseDataset],
    plugin: str,
    test_data_path: str,
    data_dir: Path,
    dataset_args: dict[str, Any],
) -> tuple[BaseDataset, str | None]:
    """Every row of ``test_data_path``, read by the run's dataset plugin with its dataset_args, and
    the file's absolute path for the saved config. The file must exist: a plugin that ignores its
    path would otherwise hand back its training rows as "test" rows."""
    path, absolute = resolve_data_path(test_data_path, data_dir)
    assert path is not None
    if not Path(path).is_file():
        where = "is a folder" if Path(path).is_dir() else "does not exist"
        raise DataError(
            f"test_data_path: {path} {where} (also looked under AIFORGE_DATA_DIR={data_dir}); "
            "name the file of held-out test rows"
        )
    dataset = dataset_class()
    try:
        load_rows(dataset, plugin, path, test_data_path, data_dir, dataset_args)
    except DataError as err:
        raise DataError(f"test_data_path {test_data_path!r}: {err}") from err
    return dataset, absolute
