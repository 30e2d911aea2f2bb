"""Metrics and callbacks."""

from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)

__all__ = ["Callback", "EarlyStopping", "LRSchedulerCallback", "MetricsHistory", "ModelCheckpoint"]
