"""A run's data made ready to train on: rows loaded and split, the held-out test rows, the
preprocessor fitted on the training rows only, the batches, and the model dims the data gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aiforge.config.model_configs import ExperimentConfig
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, split_with_test
from aiforge.data.batching import first_batch, loader_options
from aiforge.data.fitting import dims_from_data, fill_model_dims, fitted_preprocessor
from aiforge.data.loading import (
    load_rows,
    load_test_file,
    plugin_batches,
    resolve_data_path,
    resolve_file_arguments,
)
from aiforge.errors import DataError, DimsMismatch
from aiforge.runtime.distributed import is_initialized, rank, world_size
from aiforge.runtime.log import logger


@dataclass
class PreparedData:
    """What preparing the data gives a run, filled step by step: after an error, the steps done
    so far stay visible to the caller (``aiforge evaluate`` checks the classes of a loaded dataset),
    and a field no step reached keeps the value it came in with."""

    config: ExperimentConfig  # the run's config with the paths and dims found for it
    dataset: BaseDataset | None = None
    preprocessor: BasePreprocessor | None = None
    train_indices: torch.Tensor | None = None
    val_indices: torch.Tensor | None = None
    test_dataset: BaseDataset | None = None  # the held-out test rows' dataset, when there are any
    test_indices: torch.Tensor | None = None
    train_dataloader: Any = None
    val_dataloader: Any = None
    test_dataloader: Any = None
    num_classes: int | None = None  # classification only

    def resolve(self, **resolved: Any) -> None:
        """A new config object with the values found: the config the run started from is never edited."""
        self.config = self.config.model_copy(update=resolved)


def prepare_data(
    data: PreparedData,
    dataset_class: type[BaseDataset],
    preprocessor_class: type[BasePreprocessor] | None,
    data_dir: Path,
    device: torch.device,
    task: str,
    resumed: bool,
) -> None:
    """Load, split, fit the preprocessor on the training rows only, and batch, into ``data``.

    ``resumed``: the config holds the dims of the data the run started with, so other dims
    from the data are a DataError about the data, not about the config.
    """
    _resolve_file_arguments(data, data_dir)
    cfg = data.config
    data.dataset = dataset_class()
    data_path, absolute = resolve_data_path(cfg.data_path, data_dir)
    if absolute is not None:
        data.resolve(data_path=absolute)
    logger.info(f"Loading data with {dataset_class.__name__} ({cfg.dataset_plugin})")
    load_rows(data.dataset, cfg.dataset_plugin, data_path, cfg.data_path, data_dir, cfg.dataset_args)
    count = len(data.dataset)
    data.train_indices, data.val_indices, test = split_with_test(
        count, cfg.val_fraction, cfg.test_fraction, cfg.seed
    )
    _load_test_rows(data, test, dataset_class, data_dir)
    if is_initialized() and len(data.val_indices) < world_size():  # every rank must validate
        raise DataError(
            f"{len(data.val_indices)} validation rows cannot be shared by {world_size()} processes; "
            "raise val_fraction or use fewer processes"
        )
    if is_initialized() and data.test_indices is not None and len(data.test_indices) < world_size():
        raise DataError(
            f"{len(data.test_indices)} test rows cannot be shared by {world_size()} processes; "
            "raise test_fraction (or use a larger test_data_path file) or use fewer processes"
        )
    if preprocessor_class is not None:
        data.preprocessor = fitted_preprocessor(
            preprocessor_class,
            data.dataset,
            data.train_indices,
            cfg.dataset_plugin,
            cfg.preprocess_args,
        )
    loader = (data.config, device, data.dataset)
    data.train_dataloader = batches(*loader, data.train_indices, data.preprocessor, shuffle=True)
    data.val_dataloader = batches(*loader, data.val_indices, data.preprocessor, shuffle=False)
    data.test_dataloader = test_batches(data, device)
    _fill_model_dims(data, task, resumed)
    tested = f", {len(data.test_indices)} test rows" if data.test_indices is not None else ""
    rows = f"{len(data.train_indices)} training rows, {len(data.val_indices)} validation rows{tested}"
    logger.info(f"Data: {rows}")


def batches(
    config: ExperimentConfig,
    device: torch.device,
    dataset: BaseDataset,
    indices: torch.Tensor,
    preprocessor: BasePreprocessor | None,
    shuffle: bool,
    sharded: bool = True,
) -> Any:
    """The rows at ``indices`` as the dataset plugin's batches, preprocessed; under torchrun each
    rank gets its part unless not ``sharded``."""
    tcfg = config.training_config
    shard = (rank(), world_size()) if sharded and is_initialized() else None
    options = loader_options(device, tcfg.num_workers, tcfg.pin_memory, tcfg.persistent_workers)
    batching = (tcfg.batch_size, shuffle, config.seed, shard, options)
    return plugin_batches(config.dataset_plugin, dataset, indices, preprocessor, *batching)


def test_batches(data: PreparedData, device: torch.device) -> Any:
    """The test rows, preprocessed like validation rows (sharded under torchrun); None without."""
    if data.test_indices is None:
        return None
    assert data.test_dataset is not None
    return batches(data.config, device, data.test_dataset, data.test_indices, data.preprocessor, False)


def _load_test_rows(
    data: PreparedData, split_off: torch.Tensor, dataset_class: type[BaseDataset], data_dir: Path
) -> None:
    """The held-out test rows: ``split_off`` of the run's data (test_fraction), or every row of
    test_data_path read by the same plugin with the same dataset_args; none without either."""
    cfg = data.config
    if cfg.test_data_path is None:
        if len(split_off):
            data.test_dataset, data.test_indices = data.dataset, split_off
        return
    data.test_dataset, absolute = load_test_file(
        dataset_class,
        cfg.dataset_plugin,
        cfg.test_data_path,
        data_dir,
        cfg.dataset_args,
    )
    if absolute is not None:
        data.resolve(test_data_path=absolute)
    data.test_indices = torch.arange(len(data.test_dataset))


def _resolve_file_arguments(data: PreparedData, data_dir: Path) -> None:
    """Files named in dataset_args/preprocess_args (``tokenizer_file``) as absolute paths."""
    for key in ("dataset_args", "preprocess_args"):
        resolved = resolve_file_arguments(getattr(data.config, key), data_dir)
        if resolved is not None:
            data.resolve(**{key: resolved})


def _fill_model_dims(data: PreparedData, task: str, resumed: bool) -> None:
    """Fill ``input_dim``/``output_dim`` from the data when the config leaves them out."""
    assert data.dataset is not None
    cfg = data.config
    where = "training batch {batch}, read before training"
    sample = first_batch(data.train_dataloader, cfg.dataset_plugin, where)["features"]
    found = dims_from_data(
        data.dataset,
        sample,
        task,
        cfg.training_config.loss_fn_name,
        cfg.dataset_plugin,
        data.preprocessor,
    )
    if task == "classification":
        data.num_classes = found["output_dim"]
    try:
        model_config, updates = fill_model_dims(cfg.model_specific_config, found, cfg.dataset_plugin)
    except DimsMismatch as err:
        if not resumed:
            raise
        raise DataError(
            f"the training data differs from the data this run started with (it gave "
            f"{err.name}={err.configured}, it now gives {err.found}); a resume needs the same data "
            "and dataset_args: put them back, or start a new run"
        ) from None
    if updates:
        logger.info(f"From the data: {_fmt(updates)}")
        data.resolve(model_specific_config=model_config)


def _fmt(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
