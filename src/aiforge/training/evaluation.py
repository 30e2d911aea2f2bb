"""The evaluation loop: a model's mean loss per sample and its metrics over batches.

One loop for the Trainer's validation after each epoch and for ``aiforge evaluate``, so a run's
``final_val_loss`` and a later evaluation of its weights are computed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch

from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import Item
from aiforge.data.batching import first_batch, read_batches, to_device
from aiforge.runtime.distributed import all_reduce_sum, inference_mode_works_with_backend
from aiforge.training.precision import Precision, full_precision, precision_for
from aiforge.training.step_failures import step_failure

if TYPE_CHECKING:
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.utils.metrics import MetricSet


def uses_inference_mode(asked: bool) -> bool:
    """Whether to evaluate under ``torch.inference_mode`` (``training_config.inference_mode``):
    not where the process group's backend cannot sync inference tensors."""
    return asked and inference_mode_works_with_backend()


def evaluate(
    model: BaseModel,
    batches: Iterable[Item],
    metrics: MetricSet,
    device: torch.device,
    precision: Precision,
    *,
    inference_mode: bool = True,
    plugin_names: tuple[str, str] = ("model", "dataset"),
    compiled: bool = False,
    context: str = "",
) -> tuple[float, dict[str, float]]:
    """Mean loss per sample and metrics over all ``batches``, summed over every rank under DDP.

    ``inference_mode`` False runs under ``torch.no_grad`` instead (see :func:`uses_inference_mode`);
    ``plugin_names`` (model, dataset) and ``context`` (``"epoch 3, "``) name a failure's source.
    """
    with torch.inference_mode() if inference_mode else torch.no_grad():
        return _evaluate(
            model, batches, metrics, device, precision, inference_mode, plugin_names, compiled, context
        )


def _evaluate(
    model: BaseModel,
    batches: Iterable[Item],
    metrics: MetricSet,
    device: torch.device,
    precision: Precision,
    inference_mode: bool,
    plugin_names: tuple[str, str],
    compiled: bool,
    context: str,
) -> tuple[float, dict[str, float]]:
    model_name, dataset_name = plugin_names
    model.eval()
    metrics.reset()
    total = torch.zeros((), device=device)
    seen = 0
    has_predictions = False
    move = device.type != "cpu"
    for index, raw_batch in enumerate(
        read_batches(batches, dataset_name, context + "validation batch {batch}")
    ):
        batch = to_device(raw_batch, device) if move else raw_batch
        try:
            outputs = precision.run(model.validation_step, batch, index)
        except Exception as err:
            where = f"{context}batch {index + 1}"
            raise step_failure(model_name, "validation_step", where, err, inference_mode, compiled) from err
        size = len(batch["labels"]) if "labels" in batch else 1
        total += outputs["loss"].detach().float() * size
        seen += size
        if "predictions" in outputs and "labels" in batch:
            metrics.update(full_precision(outputs["predictions"]), batch["labels"])
            has_predictions = True
    values = metrics.compute() if has_predictions else {}  # torchmetrics syncs the ranks
    total, seen = all_reduce_sum(total, seen)
    return total / max(seen, 1.0), values


def evaluate_as_configured(
    model: BaseModel,
    batches: Iterable[Item],
    metrics: MetricSet,
    config: TrainingConfig,
    device: torch.device,
    plugin_names: tuple[str, str] = ("model", "dataset"),
) -> tuple[float, dict[str, float]]:
    """:func:`evaluate` with the run's ``training_config`` (precision, compile, inference mode), as
    its Trainer validated: ``aiforge evaluate`` recomputes the run's numbers without a Trainer."""
    precision = precision_for(config.precision, device)
    if config.compile:  # as the Trainer does: compiles __call__ in place
        model.compile(**(config.compile.model_dump() if config.compile is not True else {}))
    return evaluate(
        model,
        batches,
        metrics,
        device,
        precision,
        inference_mode=uses_inference_mode(config.inference_mode),
        plugin_names=plugin_names,
        compiled=bool(config.compile),
    )


def output_width(predictions: Any) -> int:
    """Columns of ``predictions`` (1 for one column, or none): what sizes the metric set."""
    return predictions.shape[-1] if predictions is not None and predictions.dim() > 1 else 1


def prediction_width(model: BaseModel, batches: Iterable[Item], device: torch.device) -> int:
    """:func:`output_width` of the model's predictions on the first of ``batches``."""
    model.eval()
    with torch.no_grad():
        batch = to_device(first_batch(batches), device)
        return output_width(model.validation_step(batch, 0).get("predictions"))
