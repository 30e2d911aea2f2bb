"""What the data says about the model: input width, output width, and whether the task fits."""

from __future__ import annotations

import math
from typing import Any

import torch

from aiforge.config.model_configs import ModelSpecificConfig
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, stack_features
from aiforge.core.plugins import call_plugin
from aiforge.errors import DataError, DimsMismatch, PluginError
from aiforge.runtime.distributed import broadcast_object, is_initialized, is_main_process
from aiforge.runtime.log import logger
from aiforge.training.builders import BINARY_LOSSES, loss_kind


def all_labels(dataset: BaseDataset) -> torch.Tensor:
    """Every row's label; from a ``labels`` tensor the dataset holds when it has one, so a dataset
    that reads its items lazily (images) is not read whole for its labels."""
    tensors = dataset.as_tensors()
    if tensors is not None:
        return tensors["labels"]
    held = getattr(dataset, "labels", None)
    if isinstance(held, torch.Tensor) and len(held) == len(dataset):
        return held
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
        rows = train_indices
        if preprocessor.fit_sample_size is not None and dataset.as_tensors() is None:
            rows = train_indices[: preprocessor.fit_sample_size]  # already in a seeded random order
        train_features = stack_features(dataset, rows)
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
    dataset: BaseDataset,
    sample_features: torch.Tensor,
    task: str,
    loss_name: str,
    plugin: str,
    preprocessor: BasePreprocessor | None = None,
) -> dict[str, Any]:
    """``input_dim`` (features per row, after preprocessing), ``output_dim`` (classes, or 1),
    ``in_channels`` for images (batches ``[N, C, H, W]``), and what the dataset's and the
    preprocessor's ``model_dims()`` say (vocabulary sizes, embedding cardinalities).

    ``sample_features`` is a batch as the model will see it, so a preprocessor that
    changes the width (PCA, one-hot) is accounted for.
    """
    if not isinstance(sample_features, torch.Tensor):
        raise PluginError(
            f"dataset plugin '{plugin}': batches must hold a tensor of features after preprocessing, "
            f"not {type(sample_features).__name__}; its Preprocessor's transform_batch must make one"
        )
    outputs = output_dim(dataset, task, loss_name, plugin)
    found: dict[str, Any] = {"input_dim": math.prod(sample_features.shape[1:]), "output_dim": outputs}
    if sample_features.dim() == 4:
        found["in_channels"] = int(sample_features.shape[1])
    for source in (dataset, preprocessor):
        found.update(_declared_dims(source, plugin))
    return found


def _declared_dims(source: Any, plugin: str) -> dict[str, Any]:
    """``source.model_dims()`` when it has one; anything but a mapping of names is the plugin's error."""
    model_dims = getattr(source, "model_dims", None)
    if source is None or not callable(model_dims):
        return {}
    dims = call_plugin(plugin, None, model_dims)
    if not isinstance(dims, dict) or not all(isinstance(key, str) for key in dims):
        raise PluginError(
            f"plugin '{plugin}': {type(source).__name__}.model_dims() must return a mapping of "
            f"model config field names to values, not {dims!r}"
        )
    return dims


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
    if loss_kind(loss_name) in BINARY_LOSSES:
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


CORE_DIMS = ("input_dim", "output_dim", "in_channels")  # what any data gives; a model may ignore them


def fill_model_dims(
    model_config: ModelSpecificConfig, found: dict[str, Any], plugin: str = "the dataset plugin"
) -> tuple[ModelSpecificConfig, dict[str, Any]]:
    """Set the dims a config declares and leaves as None; a set value that disagrees is an error.

    A dim from a plugin's ``model_dims()`` (not one of CORE_DIMS) is something the data needs
    the model to know (embedding sizes, a vocabulary size): a model config that does not declare
    it would read the features wrongly (category codes as quantities), so that is an error.
    """
    fields = type(model_config).model_fields
    unknown = {name: value for name, value in found.items() if name not in CORE_DIMS and name not in fields}
    if unknown:
        shown = ", ".join(f"{name}={value}" for name, value in unknown.items())
        raise DataError(
            f"dataset plugin '{plugin}' gives the model {shown}, which its data needs, but "
            f"{type(model_config).__name__} has no such field, so the model cannot use the features as "
            "they are: choose a model plugin that takes it (simple_nn takes embedding_cardinalities, "
            "text_classifier vocab_size), or preprocess so it is not needed (for a table: raise "
            "preprocess_args.max_onehot_levels so no category is embedded)"
        )
    updates = {}
    for name, value in found.items():
        if name not in type(model_config).model_fields:
            continue
        current = getattr(model_config, name)
        if current is None:
            updates[name] = value
        elif current != value:
            what = {"input_dim": "features", "output_dim": "outputs for this task and loss"}.get(
                name, "found"
            )
            remedy = (
                f"remove {name} from the config to have it filled in"
                if name in model_config.model_fields_set
                else f"it is the default of {type(model_config).__name__}; set model_config.{name}: {value}"
            )
            raise DimsMismatch(name, current, value, f"({what}); {remedy}")
    return (model_config.model_copy(update=updates) if updates else model_config), updates
