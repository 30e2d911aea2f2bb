"""Metrics and callbacks. ``MLflowCallback`` lives in aiforge.tracking: re-exported on first use, so
that tracking/ can import this package without importing itself back."""

from aiforge._lazy import lazy_exports
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
__getattr__, _ = lazy_exports(__name__, {"MLflowCallback": "aiforge.tracking.mlflow_callback"})
