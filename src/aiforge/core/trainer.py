"""The training loop: epochs of optimizer steps, validation, and callbacks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.core.batching import to_device
from aiforge.core.data_pipeline import Item
from aiforge.core.logger import logger
from aiforge.utils.callbacks import Callback
from aiforge.utils.metrics import MetricSet


class TrainingError(RuntimeError):
    """Training cannot go on (for example, the loss is no longer finite)."""


class Trainer:
    """Runs epochs over prepared batches; knows nothing about files or plugins."""

    def __init__(
        self,
        model: BaseModel,
        optimizer: torch.optim.Optimizer,
        config: TrainingConfig,
        device: torch.device,
        metrics: MetricSet,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.device = device
        self.metrics = metrics
        self.callbacks = callbacks or []
        self.global_step = 0
        # Only callbacks with per-batch work are called per batch.
        self._batch_callbacks = [
            cb
            for cb in self.callbacks
            if getattr(cb.on_train_batch_end, "__func__", None) is not Callback.on_train_batch_end
        ]
        self.history: list[dict[str, float]] = []

    def fit(
        self, train_batches: Iterable[Item], val_batches: Iterable[Item], epochs: int
    ) -> list[dict[str, float]]:
        self.epochs = epochs
        self.batches_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
        for callback in self.callbacks:
            callback.on_train_start(self)
        for epoch in range(epochs):
            train_loss = self.train_epoch(train_batches, epoch)
            val_loss, val_metrics = self.evaluate(val_batches)
            logs = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_loss,
                **{f"val_{name}": value for name, value in val_metrics.items()},
                "lr": self.optimizer.param_groups[0]["lr"],
            }
            self.history.append(logs)
            shown = " | ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in ("epoch", "lr"))
            logger.info(f"Epoch {epoch + 1}/{epochs} | {shown}")
            for callback in self.callbacks:
                callback.on_epoch_end(epoch, logs)
            if any(callback.stop_training for callback in self.callbacks):
                break
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def train_epoch(self, batches: Iterable[Item], epoch: int) -> float:
        """One pass over the training batches; returns the mean loss per sample."""
        self.model.train()
        accumulate = self.config.gradient_accumulation_steps
        total = torch.zeros((), device=self.device)
        seen = 0
        self.optimizer.zero_grad(set_to_none=True)
        batch_count = len(batches) if hasattr(batches, "__len__") else None
        in_group = 0  # batches whose gradients wait for the next optimizer step
        for index, raw_batch in enumerate(batches):
            batch = to_device(raw_batch, self.device)
            loss = self.model.training_step(batch, index)["loss"]
            (loss / accumulate).backward()
            in_group += 1
            size = len(batch["labels"]) if "labels" in batch else 1
            total += loss.detach() * size
            seen += size
            if in_group == accumulate or index + 1 == batch_count:
                self._optimizer_step(in_group)
                in_group = 0
            for callback in self._batch_callbacks:
                callback.on_train_batch_end(index, loss.detach())
        if in_group:
            self._optimizer_step(in_group)  # the last partial accumulation of an unsized loader
        mean_loss = (total / max(seen, 1)).item()
        if not math.isfinite(mean_loss):
            raise TrainingError(
                f"the training loss became {mean_loss} in epoch {epoch + 1} (global step "
                f"{self.global_step}); lower the learning rate or set gradient_clip_norm"
            )
        return mean_loss

    def _optimizer_step(self, batches: int) -> None:
        """Step on the gradients of ``batches`` accumulated batches."""
        accumulate = self.config.gradient_accumulation_steps
        if batches < accumulate:
            # A short last group: each loss was divided by `accumulate`; average over the
            # batches it really has, or the epoch's last update would shrink.
            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(accumulate / batches)
        if self.config.gradient_clip_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Item]) -> tuple[float, dict[str, float]]:
        """Mean loss per sample and metrics over all batches."""
        self.model.eval()
        self.metrics.reset()
        total = torch.zeros((), device=self.device)
        seen = 0
        has_predictions = False
        for index, raw_batch in enumerate(batches):
            batch = to_device(raw_batch, self.device)
            outputs = self.model.validation_step(batch, index)
            size = len(batch["labels"]) if "labels" in batch else 1
            total += outputs["loss"].detach() * size
            seen += size
            if "predictions" in outputs and "labels" in batch:
                self.metrics.update(outputs["predictions"], batch["labels"])
                has_predictions = True
        metrics = self.metrics.compute() if has_predictions else {}
        return (total / max(seen, 1)).item(), metrics

    def model_state(self) -> dict[str, Any]:
        return {key: value.detach().clone() for key, value in self.model.state_dict().items()}

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)

    def full_state(self, epoch: int) -> dict[str, Any]:
        """Everything ``last.pt`` holds: weights, optimizer, progress and callback states."""
        return {
            "model": self.model_state(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": epoch,
            "global_step": self.global_step,
            "callbacks": _callback_states(self.callbacks),
        }


def _callback_states(callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    """Each callback's state, keyed by class name (``Name#1`` for a second of one class)."""
    states: dict[str, dict[str, Any]] = {}
    for callback in callbacks:
        key = type(callback).__name__
        count = sum(1 for existing in states if existing.split("#")[0] == key)
        states[f"{key}#{count}" if count else key] = callback.state_dict()
    return states
