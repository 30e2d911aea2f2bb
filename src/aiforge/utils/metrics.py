"""Validation metrics by name, computed with torchmetrics (correct across batches and ranks)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# Predictions held before torchmetrics sees them: 4M values, 16 MiB of float32.
BUFFER_ELEMENTS = 1 << 22

# name -> task it applies to; kept free of torch so the config can validate names cheaply.
METRICS: dict[str, str] = {
    "accuracy": "classification",
    "precision": "classification",
    "recall": "classification",
    "f1": "classification",
    "auroc": "classification",
    "mse": "regression",
    "rmse": "regression",
    "mae": "regression",
    "r2": "regression",
}
DEFAULT_METRICS: dict[str, list[str]] = {
    "classification": ["accuracy", "f1"],
    "regression": ["mse", "mae", "r2"],
}


def monitor_mode(monitor: str) -> str:
    """``min`` for losses and errors, ``max`` for scores such as accuracy or r2."""
    return "min" if monitor.endswith(("loss", "mse", "mae", "rmse")) else "max"


def default_metrics(task: str) -> list[str]:
    return list(DEFAULT_METRICS[task])


def check_metrics_fit_task(names: list[str], task: str) -> None:
    wrong = [n for n in names if METRICS[n] != task]
    if wrong:
        raise ValueError(f"metric(s) {wrong} do not apply to a {task} task (inferred from the loss)")


class MetricSet:
    """A torchmetrics collection plus the small conversions each task needs.

    ``num_outputs`` is the model's output width: 1 means a binary classifier with one
    logit (or a single regression target), more means multiclass logits.
    """

    def __init__(self, names: list[str], task: str, num_outputs: int, logits: bool = True) -> None:
        from aiforge.runtime.torchvision_import import import_if_installed

        import_if_installed()  # torchmetrics imports torchvision itself; see that module
        import torchmetrics as tm

        check_metrics_fit_task(names, task)
        self.task = task
        self.binary = task == "classification" and num_outputs == 1
        self.logits = logits
        self.names = list(names)
        specs = {name: self._spec(name, num_outputs) for name in names}
        self.collection = tm.MetricCollection(
            {name: metric_class(**kwargs) for name, (metric_class, _, kwargs) in specs.items()}
        )
        self.functions = {
            name: functools.partial(function, **kwargs) for name, (_, function, kwargs) in specs.items()
        }
        self._buffer: list[tuple[Any, Any]] = []
        self._buffered = 0  # prediction elements waiting in the buffer
        self._flushed = False  # whether the collection holds batches since the last reset

    def _spec(self, name: str, num_outputs: int) -> tuple[Any, Callable[..., Any], dict[str, Any]]:
        """The torchmetrics class, its functional twin, and the arguments both take.

        For classification, the binary or multiclass one itself: the generic ``accuracy(task=...)``
        that picks it costs a third more per call, and this runs every epoch.
        """
        import torchmetrics as tm
        import torchmetrics.classification as classes
        import torchmetrics.functional.classification as functions

        if self.task == "regression":
            metric_class, function, kwargs = {
                "mse": ("MeanSquaredError", "mean_squared_error", {}),
                "rmse": ("MeanSquaredError", "mean_squared_error", {"squared": False}),
                "mae": ("MeanAbsoluteError", "mean_absolute_error", {}),
                "r2": ("R2Score", "r2_score", {}),
            }[name]
            return getattr(tm, metric_class), getattr(tm.functional, function), kwargs
        class_suffix, function_suffix = {
            "accuracy": ("Accuracy", "accuracy"),
            "precision": ("Precision", "precision"),
            "recall": ("Recall", "recall"),
            "f1": ("F1Score", "f1_score"),
            "auroc": ("AUROC", "auroc"),
        }[name]
        if self.binary:
            return (
                getattr(classes, f"Binary{class_suffix}"),
                getattr(functions, f"binary_{function_suffix}"),
                {},
            )
        average = "micro" if name == "accuracy" else "macro"
        return (
            getattr(classes, f"Multiclass{class_suffix}"),
            getattr(functions, f"multiclass_{function_suffix}"),
            {"num_classes": num_outputs, "average": average},
        )

    def to(self, device: Any) -> MetricSet:
        self.collection = self.collection.to(device)
        return self

    def update(self, predictions: Any, targets: Any) -> None:
        """Buffer one batch; torchmetrics sees the buffer in one call (its per-call cost is
        many times a small batch's), at the latest once ``BUFFER_ELEMENTS`` are waiting."""
        import torch

        if predictions.dim() == targets.dim() + 1 and predictions.shape[-1] == 1:
            predictions = predictions.squeeze(-1)
        if self.task == "classification":
            if self.binary and self.logits:
                predictions = predictions.sigmoid()
            targets = targets if targets.dtype == torch.int64 else targets.long()
        else:
            targets = targets.to(predictions.dtype)
        # Copies: the model's output buffer may be reused by the next call (CUDA graphs).
        self._buffer.append((predictions.detach().clone(), targets.clone()))
        self._buffered += predictions.numel()
        if self._buffered >= BUFFER_ELEMENTS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self.collection.update(*self._concatenated())
            self._flushed = True
        self._buffer, self._buffered = [], 0

    def _concatenated(self) -> tuple[Any, Any]:
        import torch

        predictions, targets = zip(*self._buffer, strict=True)
        return torch.cat(predictions), torch.cat(targets)

    def compute(self) -> dict[str, float]:
        """Values over everything seen since the last reset (one host sync).

        In a single process, while every batch is still in the buffer (a validation split
        of up to ``BUFFER_ELEMENTS`` predictions), torchmetrics' functional form computes them
        from it: the same values for about half the fixed cost of the class form. Otherwise
        the collection, which also combines the ranks of a distributed run.
        """
        from aiforge.runtime.distributed import is_initialized

        if self._buffer and not self._flushed and not is_initialized():
            predictions, targets = self._concatenated()
            return {name: float(function(predictions, targets)) for name, function in self.functions.items()}
        self._flush()
        values = self.collection.compute()
        return {name: float(values[name]) for name in self.names}  # in the configured order, as above

    def reset(self) -> None:
        self._buffer, self._buffered = [], 0
        if self._flushed:
            self.collection.reset()
            self._flushed = False
