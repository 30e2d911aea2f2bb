"""The pictures and report of a finished run, drawn from its model's validation predictions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aiforge.data.batching import to_device
from aiforge.reporting import build_report, write_run_plots
from aiforge.reporting.misclassified import write_misclassified
from aiforge.runtime.log import logger

if TYPE_CHECKING:
    from aiforge.core.base_model import BaseModel
    from aiforge.runs.lock import RunLock


def write_run_report(
    run_dir: Path,
    model: BaseModel,
    val_batches: Iterable[Any],
    task: str,
    logits: bool,
    device: torch.device,
    lock: RunLock | None = None,
    raw_val_batches: Iterable[Any] | None = None,
) -> None:
    """PNG plots and report.html from ``model``'s predictions on every validation batch; a failure
    here costs the pictures, never the finished run. ``lock``: the run folder's lock, when held.
    ``raw_val_batches``: the same validation rows before preprocessing, in the same order; when
    they are images, the misclassified ones are drawn too."""
    try:
        targets, predictions = val_predictions(model, val_batches, task, logits, device)
        write_run_plots(run_dir, targets, predictions, task)
        if raw_val_batches is not None and task == "classification" and targets is not None:
            _draw_misclassified(run_dir, raw_val_batches, targets, predictions)
        report = build_report(run_dir, lock=lock)  # the run holds it
    except Exception as err:
        logger.opt(exception=err).debug("Plots or report failed")
        logger.warning(f"No report for this run: {err}  (retry: aiforge report {run_dir})")
        return
    logger.info(f"Report: {report}")


def _draw_misclassified(
    run_dir: Path, raw_val_batches: Iterable[Any], targets: Any, predictions: Any
) -> None:
    """``misclassified.png``; a failure costs that picture only."""
    try:
        write_misclassified(run_dir, raw_val_batches, targets, predictions)
    except Exception as err:
        logger.opt(exception=err).debug("misclassified images failed")
        logger.warning(f"No picture of the misclassified images: {err}")


def val_predictions(
    model: BaseModel, val_batches: Iterable[Any], task: str, logits: bool, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Validation targets and predictions (class indices for classification), on the CPU.

    ``logits``: whether a one-column classifier's outputs are logits (threshold 0) or
    probabilities (threshold 0.5). ``(None, None)`` when ``validation_step`` returns no predictions.
    """
    model.eval()
    targets, predictions = [], []
    with torch.no_grad():
        for index, raw_batch in enumerate(val_batches):
            batch = to_device(raw_batch, device)
            outputs = model.validation_step(batch, index).get("predictions")
            if outputs is None or "labels" not in batch:
                return None, None
            if outputs.dim() == 2 and outputs.shape[-1] == 1:
                outputs = outputs.squeeze(-1)
            if task == "classification":
                threshold = 0.0 if logits else 0.5
                outputs = outputs.argmax(dim=-1) if outputs.dim() == 2 else (outputs > threshold).long()
            targets.append(batch["labels"].cpu())
            predictions.append(outputs.cpu())
    return torch.cat(targets), torch.cat(predictions)
