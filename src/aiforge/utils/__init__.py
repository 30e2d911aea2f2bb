"""Metrics and callbacks."""

from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)
from aiforge.utils.mlflow_callback import MLflowCallback

__all__ = [
    "Callback",
    "EarlyStopping",
    "LRSchedulerCallback",
    "MLflowCallback",
    "MetricsHistory",
    "ModelCheckpoint",
]
