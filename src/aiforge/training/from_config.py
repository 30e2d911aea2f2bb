"""The pieces of a training run built from its config: callbacks, LR scheduler, metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from aiforge.config.model_configs import (
    ExperimentConfig,
    ModelSpecificConfig,
    TrainingConfig,
    logged_name_problems,
    model_config_as,
)
from aiforge.core.base_model import BaseModel
from aiforge.data.batching import first_batch, to_device
from aiforge.errors import AIForgeError, ConfigError, TrainingError
from aiforge.runs import files as run_files
from aiforge.training.checkpoint import config_entry
from aiforge.training.evaluation import output_width, prediction_width
from aiforge.training.output_checks import (
    check_forward,
    check_outputs,
    has_own_loss,
    loss_to_judge,
    metrics_problem,
)
from aiforge.training.schedules import build_schedule, sized_length
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
    batches_per_epoch: int | None = None,
) -> tuple[list[Callback], ModelCheckpoint]:
    """History, early stopping, ``others`` (tracking, user callbacks), LR schedule, checkpoints.

    The schedule steps after ``others`` have seen the step or epoch: a tracker logs the LR the
    step used, as Lightning's LearningRateMonitor does.

    The checkpoint callback comes last, so ``last.pt`` holds every other callback's state after
    the epoch; it also stores the resolved config, which a resume checks against.
    ``batches_per_epoch``: the training batches of one epoch on this process (None: unknown),
    which sizes a per-step LR schedule.
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
    callbacks.extend(others)
    if training.scheduler is not None:
        scheduler = lr_scheduler(training, optimizer, batches_per_epoch)
        monitor, interval = training.scheduler.monitor, training.scheduler.interval
        callbacks.append(LRSchedulerCallback(scheduler, monitor, interval))
    checkpoint = ModelCheckpoint(
        run_dir / run_files.CHECKPOINT_DIR,
        training.early_stopping_monitor,
        training.early_stopping_mode,
        extra_state=config_entry(config_record),
        every_n_epochs=training.checkpoint_every_n_epochs,
    )
    callbacks.append(checkpoint)
    return callbacks, checkpoint


def lr_scheduler(
    training: TrainingConfig, optimizer: torch.optim.Optimizer, batches_per_epoch: int | None = None
) -> Any:
    """The config's scheduler on ``optimizer``, sized from the run's epochs and, per step, its
    ``batches_per_epoch`` (see training/schedules.py); bad arguments are a ConfigError."""
    scheduler = training.scheduler
    assert scheduler is not None
    mode = monitor_mode(scheduler.monitor)
    accumulation = training.gradient_accumulation_steps
    try:
        return build_schedule(optimizer, scheduler, training.epochs, batches_per_epoch, accumulation, mode)
    except (TypeError, ValueError) as err:
        args = ", ".join(f"{key}={value}" for key, value in scheduler.args.items())
        call = f"{scheduler.name}({args})"
        raise ConfigError(f"training_config.scheduler: {call} failed: {err}") from None


@dataclass(frozen=True)
class OutputChecks:
    """What a model's first outputs are checked against, and the plugins to name when they fail."""

    model_plugin: str
    dataset_plugin: str
    loss_name: str
    num_classes: int | None

    @classmethod
    def for_config(cls, config: ExperimentConfig, num_classes: int | None) -> OutputChecks:
        """The checks for a run of ``config`` (``num_classes`` None: a class-index loss's width unchecked)."""
        loss_name = config.training_config.loss_fn_name
        return cls(config.model_plugin, config.dataset_plugin, loss_name, num_classes)

    def first_outputs(
        self, model: BaseModel, call: Callable[[], dict[str, Any]], batch: Any, where: str
    ) -> dict[str, Any]:
        """``call()`` (a step of ``model`` on ``batch``); its exception names the model plugin and
        ``where`` (exit 1), predictions that do not fit the task are a PluginError (exit 2), also
        when the loss would reject them itself (the forward is checked before the step)."""
        check_forward(model, batch, self.loss_name, self.num_classes, self.model_plugin, where)
        try:
            outputs = call()
        except AIForgeError:  # the plugin saying on purpose that the input is wrong (exit 2)
            raise
        except Exception as err:
            raise TrainingError(
                f"model plugin '{self.model_plugin}' failed on {where}: {type(err).__name__}: {err}"
            ) from err
        if isinstance(outputs, dict):
            predictions, labels = outputs.get("predictions"), batch.get("labels")
            loss_name = loss_to_judge(model, self.loss_name)
            check_outputs(predictions, labels, loss_name, self.num_classes, self.model_plugin, where)
        return outputs


def metric_set(
    names: list[str],
    task: str,
    model: BaseModel,
    val_batches: Any,
    device: torch.device,
    logits: bool,
    checks: OutputChecks | None = None,
    *,
    width: int | None = None,
) -> MetricSet:
    """The metrics, sized from one validation batch's predictions (the number of classes); with
    ``checks``, that batch also checks the model's outputs before any training relies on them.
    A caller that already knows the predictions' ``width`` passes it: no second forward pass."""
    if width is not None:
        outputs = width
    elif checks is None:
        outputs = prediction_width(model, val_batches, device)
    else:
        outputs = _checked_width(names, task, model, val_batches, device, checks)
    try:
        return MetricSet(names, task, outputs, logits=logits).to(device)
    except ValueError as err:
        raise ConfigError(f"metrics: {err}") from None


def _checked_width(
    names: list[str],
    task: str,
    model: BaseModel,
    val_batches: Any,
    device: torch.device,
    checks: OutputChecks,
) -> int:
    """The model's output width on the first validation batch, its outputs checked on the way."""
    model.eval()
    with torch.no_grad():
        where = "validation batch 1, before training (validation_step)"
        batch = to_device(first_batch(val_batches, checks.dataset_plugin, where), device)
        outputs = checks.first_outputs(model, lambda: model.validation_step(batch, 0), batch, where)
        predictions = outputs.get("predictions")
        if has_own_loss(model):  # its width was not judged by the loss: can the metrics read it?
            problem = metrics_problem(
                predictions, batch.get("labels"), task, checks.num_classes, names, checks.model_plugin
            )
            if problem:
                from aiforge.runtime.log import logger

                logger.warning(problem)
    return output_width(predictions)


def model_config_for(config: ExperimentConfig, model_class: type[BaseModel]) -> ModelSpecificConfig:
    """The config's ``model_config`` as the model plugin's own ``config_class``, checked.

    Also checks the logged names (metrics, monitors), so both fail before any folder is made.
    """
    problems = logged_name_problems(config)
    if problems:
        raise ConfigError("invalid experiment config:\n" + "\n".join(f"  {p}" for p in problems))
    expected = getattr(model_class, "config_class", ModelSpecificConfig)
    given = config.model_specific_config
    try:  # e.g. a SimpleNNConfig for a plugin whose config has the same fields
        return model_config_as(expected, given)
    except ValidationError as err:
        raise ConfigError(
            f"model_config is a {type(given).__name__}, but {model_class.__name__} of plugin "
            f"'{config.model_plugin}' expects {expected.__name__}: {err}"
        ) from None


def dry_run(
    config: ExperimentConfig,
    model: BaseModel,
    train_batches: Any,
    device: torch.device,
    num_classes: int | None,
    samples: tuple[int, int],
) -> dict[str, Any]:
    """``aiforge check`` once data, model and metrics are built: the scheduler built, one training
    batch forward and backward; ``samples`` are the training and validation row counts."""
    if config.training_config.scheduler is not None:  # sized as the run will size it
        lr_scheduler(config.training_config, model.optimizer, sized_length(train_batches))
    model.train()
    where = "training batch 1 (training_step)"
    batch = to_device(first_batch(train_batches, config.dataset_plugin, where), device)
    checks = OutputChecks.for_config(config, num_classes)
    outputs = checks.first_outputs(model, lambda: model.training_step(batch, 0), batch, where)
    outputs["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    return {
        "parameters": model.num_parameters(),
        "loss": float(outputs["loss"].detach()),
        "batch_features_shape": list(batch["features"].shape),
        "gradients_finite": all(g is None or bool(torch.isfinite(g).all()) for g in grads),
        "train_samples": samples[0],
        "val_samples": samples[1],
        "model_config": config.model_specific_config.model_dump(),
    }
