"""The pictures and report of a finished run, drawn from its model's validation predictions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from aiforge.data.batching import to_device
from aiforge.reporting import build_report, write_run_plots
from aiforge.runtime.log import logger

if TYPE_CHECKING:
    from aiforge.core.orchestrator import Orchestrator


def write_run_report(orchestrator: Orchestrator) -> None:
    """PNG plots and report.html; a failure here costs the pictures, never the finished run."""
    assert orchestrator.run_dir is not None
    try:
        targets, predictions = val_predictions(orchestrator)
        write_run_plots(orchestrator.run_dir, targets, predictions, orchestrator.task)
        report = build_report(orchestrator.run_dir, lock=orchestrator.run_lock)  # the run holds it
    except Exception as err:
        logger.opt(exception=err).debug("Plots or report failed")
        logger.warning(f"No report for this run: {err}  (retry: aiforge report {orchestrator.run_dir})")
        return
    logger.info(f"Report: {report}")


def val_predictions(orchestrator: Orchestrator) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Validation targets and predictions (class indices for classification), on the CPU.

    ``(None, None)`` when the model's ``validation_step`` returns no predictions.
    """
    assert orchestrator.model is not None
    logits = orchestrator.config.training_config.loss_fn_name != "BCELoss"
    orchestrator.model.eval()
    targets, predictions = [], []
    with torch.no_grad():
        for index, raw_batch in enumerate(orchestrator.all_val_batches()):
            batch = to_device(raw_batch, orchestrator.device)
            outputs = orchestrator.model.validation_step(batch, index).get("predictions")
            if outputs is None or "labels" not in batch:
                return None, None
            if outputs.dim() == 2 and outputs.shape[-1] == 1:
                outputs = outputs.squeeze(-1)
            if orchestrator.task == "classification":
                threshold = 0.0 if logits else 0.5
                outputs = outputs.argmax(dim=-1) if outputs.dim() == 2 else (outputs > threshold).long()
            targets.append(batch["labels"].cpu())
            predictions.append(outputs.cpu())
    return torch.cat(targets), torch.cat(predictions)
