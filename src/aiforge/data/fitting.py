"""What the data says about the model: input width, output width, and whether the task fits."""

from __future__ import annotations

import math
from typing import Any

import torch

from aiforge.config.model_configs import ModelSpecificConfig
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, stack_features
from aiforge.core.plugins import call_plugin
from aiforge.errors import DataError, PluginError
from aiforge.runtime.distributed import broadcast_object, is_initialized, is_main_process
from aiforge.runtime.log import logger
from aiforge.training.builders import BINARY_LOSSES


def all_labels(dataset: BaseDataset) -> torch.Tensor:
    tensors = dataset.as_tensors()
    if tensors is not None:
        return tensors["labels"]
    return torch.stack([torch.as_tensor(dataset[i]["labels"]) for i in range(len(dataset))])


def fitted_preprocessor(
    preprocessor_class: type[BasePreprocessor],
    dataset: BaseDataset,
    train_indices: torch.Tensor,
    plugin: str,
    preprocess_args: dict[str, Any],
) -> BasePreprocessor:
    """Fitted on the training rows only, once: under torchrun rank 0 fits and every rank gets its state."""
    preprocessor = preprocessor_class()
    if is_main_process() or not is_initialized():
        train_features = stack_features(dataset, train_indices)
        call_plugin(plugin, "preprocess_args", preprocessor.fit, train_features, **preprocess_args)
        try:
            preprocessor.serialisable_state()  # fail now, not after training
        except TypeError as err:
            raise PluginError(f"plugin '{plugin}': {err}") from None
    if is_initialized():
        state = broadcast_object(preprocessor.state_dict() if is_main_process() else None)
        preprocessor.load_state_dict(state)
    return preprocessor


def dims_from_data(
    dataset: BaseDataset, sample_features: torch.Tensor, task: str, loss_name: str, plugin: str
) -> dict[str, int]:
    """``input_dim`` (features per row, after preprocessing) and ``output_dim`` (classes, or 1).

    ``sample_features`` is a batch as the model will see it, so a preprocessor that
    changes the width (PCA, one-hot) is accounted for.
    """
    outputs = output_dim(dataset, task, loss_name, plugin)
    return {"input_dim": math.prod(sample_features.shape[1:]), "output_dim": outputs}


def output_dim(dataset: BaseDataset, task: str, loss_name: str, plugin: str) -> int:
    """Classes for class-index losses; 1 for regression and binary BCE. Mismatches are DataErrors."""
    data_task = getattr(dataset, "task", None)
    if task == "regression":
        if data_task == "classification" or dataset.class_names is not None:
            logger.warning(
                f"{loss_name} makes this a regression task, but the dataset has classes; "
                "for classification use CrossEntropyLoss"
            )
        return 1
    if data_task == "regression":
        raise DataError(
            f"{loss_name} makes this a classification task, but dataset plugin '{plugin}' holds a "
            "regression target; use a regression loss such as MSELoss, or a classification dataset"
        )
    if loss_name in BINARY_LOSSES:
        labels = all_labels(dataset)
        if not bool(((labels == 0) | (labels == 1)).all()):
            raise DataError(
                f"{loss_name} needs binary labels 0/1, but dataset plugin '{plugin}' has "
                f"{int(labels.max()) + 1} classes; use CrossEntropyLoss for more than two classes"
            )
        return 1
    labels = all_labels(dataset)
    if dataset.class_names is not None:
        count = len(dataset.class_names)
        if labels.is_floating_point() or labels.min() < 0 or labels.max() >= count:
            raise DataError(
                f"dataset plugin '{plugin}' has {count} class_names, so labels must be integers "
                f"0..{count - 1}; found {labels.dtype} values "
                f"from {labels.min().item()} to {labels.max().item()}"
            )
        return count
    if (labels.is_floating_point() and not torch.equal(labels, labels.round())) or labels.min() < 0:
        raise DataError(
            f"{loss_name} makes this a classification task, but the labels of dataset plugin "
            f"'{plugin}' are not class indices 0..K-1; for regression use a regression loss such as MSELoss"
        )
    return int(labels.max()) + 1


def fill_model_dims(
    model_config: ModelSpecificConfig, found: dict[str, int]
) -> tuple[ModelSpecificConfig, dict[str, int]]:
    """Set the dims a config declares and leaves as None; a set value that disagrees is an error."""
    updates = {}
    for name, value in found.items():
        if name not in type(model_config).model_fields:
            continue
        current = getattr(model_config, name)
        if current is None:
            updates[name] = value
        elif current != value:
            what = "features" if name == "input_dim" else "outputs for this task and loss"
            remedy = (
                f"remove {name} from the config to have it filled in"
                if name in model_config.model_fields_set
                else f"it is the default of {type(model_config).__name__}; set model_config.{name}: {value}"
            )
            raise DataError(f"model_config.{name}={current}, but the data has {value} ({what}); {remedy}")
    return (model_config.model_copy(update=updates) if updates else model_config), updates
