"""The pieces of a training run built from its config: callbacks, LR scheduler, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aiforge.config.model_configs import TrainingConfig
from aiforge.core import run_files
from aiforge.core.base_model import BaseModel
from aiforge.core.batching import first_batch, to_device
from aiforge.core.training_setup import build_scheduler
from aiforge.errors import ConfigError
from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)
from aiforge.utils.metrics import MetricSet, monitor_mode


def standard_callbacks(
    training: TrainingConfig,
    run_dir: Path,
    optimizer: torch.optim.Optimizer,
    config_record: dict[str, Any],
    others: list[Callback],
) -> tuple[list[Callback], ModelCheckpoint]:
    """History, early stopping, LR schedule, ``others`` (tracking, user callbacks), checkpoints.

    The checkpoint callback comes last, so ``last.pt`` holds every other callback's state after
    the epoch; it also stores the resolved config, which a resume checks against.
    """
    callbacks: list[Callback] = [MetricsHistory(run_dir / run_files.HISTORY_FILE)]
    if training.early_stopping_patience:
        callbacks.append(
            EarlyStopping(
                training.early_stopping_patience,
                training.early_stopping_min_delta,
                training.early_stopping_monitor,
                training.early_stopping_mode,
            )
        )
    if training.scheduler is not None:
        callbacks.append(LRSchedulerCallback(lr_scheduler(training, optimizer), training.scheduler.monitor))
    callbacks.extend(others)
    checkpoint = ModelCheckpoint(
        run_dir / run_files.CHECKPOINT_DIR,
        training.early_stopping_monitor,
        training.early_stopping_mode,
        extra_state={"config": json.dumps(config_record)},
    )
    callbacks.append(checkpoint)
    return callbacks, checkpoint


def lr_scheduler(training: TrainingConfig, optimizer: torch.optim.Optimizer) -> Any:
    scheduler = training.scheduler
    assert scheduler is not None
    try:
        return build_scheduler(optimizer, scheduler.name, scheduler.args, monitor_mode(scheduler.monitor))
    except (TypeError, ValueError) as err:
        args = ", ".join(f"{key}={value}" for key, value in scheduler.args.items())
        call = f"{scheduler.name}({args})"
        raise ConfigError(f"training_config.scheduler: {call} failed: {err}") from None


def metric_set(
    names: list[str], task: str, model: BaseModel, val_batches: Any, device: torch.device, logits: bool
) -> MetricSet:
    """The metrics, sized from one validation batch's predictions (the number of classes)."""
    model.eval()
    with torch.no_grad():
        batch = to_device(first_batch(val_batches), device)
        predictions = model.validation_step(batch, 0).get("predictions")
    outputs = predictions.shape[-1] if predictions is not None and predictions.dim() > 1 else 1
    try:
        return MetricSet(names, task, outputs, logits=logits).to(device)
    except ValueError as err:
        raise ConfigError(f"metrics: {err}") from None
