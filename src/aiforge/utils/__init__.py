"""Metrics and callbacks."""

from aiforge.tracking.mlflow_callback import MLflowCallback
from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)

__all__ = [
    "Callback",
    "EarlyStopping",
    "LRSchedulerCallback",
    "MLflowCallback",
    "MetricsHistory",
    "ModelCheckpoint",
]
