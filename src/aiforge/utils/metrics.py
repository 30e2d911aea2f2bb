"""Validation metrics by name, computed with torchmetrics (correct across batches and ranks)."""

from __future__ import annotations

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
        import torchmetrics as tm

        check_metrics_fit_task(names, task)
        self.task = task
        self.binary = task == "classification" and num_outputs == 1
        self.logits = logits
        self.names = list(names)
        self.collection = tm.MetricCollection({name: self._make(tm, name, num_outputs) for name in names})
        self._buffer: list[tuple[Any, Any]] = []
        self._buffered = 0  # prediction elements waiting in the buffer

    def _make(self, tm: Any, name: str, num_outputs: int) -> Any:
        if self.task == "regression":
            return {
                "mse": lambda: tm.MeanSquaredError(),
                "rmse": lambda: tm.MeanSquaredError(squared=False),
                "mae": lambda: tm.MeanAbsoluteError(),
                "r2": lambda: tm.R2Score(),
            }[name]()
        kwargs: dict[str, Any] = (
            {"task": "binary"}
            if self.binary
            else {"task": "multiclass", "num_classes": num_outputs, "average": "macro"}
        )
        if name == "accuracy" and not self.binary:
            kwargs["average"] = "micro"
        cls = {
            "accuracy": tm.Accuracy,
            "precision": tm.Precision,
            "recall": tm.Recall,
            "f1": tm.F1Score,
            "auroc": tm.AUROC,
        }[name]
        return cls(**kwargs)

    def to(self, device: Any) -> MetricSet:
        self.collection = self.collection.to(device)
        return self

    def update(self, predictions: Any, targets: Any) -> None:
        """Buffer one batch; torchmetrics sees the buffer in one call (its per-call cost is
        many times a small batch's), at the latest once ``BUFFER_ELEMENTS`` are waiting."""
        if predictions.dim() == targets.dim() + 1 and predictions.shape[-1] == 1:
            predictions = predictions.squeeze(-1)
        if self.task == "classification":
            if self.binary and self.logits:
                predictions = predictions.sigmoid()
            targets = targets.long()
        else:
            targets = targets.to(predictions.dtype)
        # Copies: the model's output buffer may be reused by the next call (CUDA graphs).
        self._buffer.append((predictions.detach().clone(), targets.clone()))
        self._buffered += predictions.numel()
        if self._buffered >= BUFFER_ELEMENTS:
            self._flush()

    def _flush(self) -> None:
        import torch

        if self._buffer:
            predictions, targets = zip(*self._buffer, strict=True)
            self.collection.update(torch.cat(predictions), torch.cat(targets))
        self._buffer, self._buffered = [], 0

    def compute(self) -> dict[str, float]:
        """Values over everything seen since the last reset (one host sync)."""
        self._flush()
        return {name: float(value) for name, value in self.collection.compute().items()}

    def reset(self) -> None:
        self._buffer, self._buffered = [], 0
        self.collection.reset()
