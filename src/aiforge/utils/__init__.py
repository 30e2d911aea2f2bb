"""Metrics and callbacks, re-exported on first use: ``import aiforge.utils.metrics`` stays a leaf
(callbacks pull in the checkpoint format and run files), and ``MLflowCallback``, which lives in
aiforge.tracking, can be named here without tracking/ importing itself back."""

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "Callback": "aiforge.utils.callbacks",
    "EarlyStopping": "aiforge.utils.callbacks",
    "LRSchedulerCallback": "aiforge.utils.callbacks",
    "MLflowCallback": "aiforge.tracking.mlflow_callback",
    "MetricsHistory": "aiforge.utils.callbacks",
    "ModelCheckpoint": "aiforge.utils.callbacks",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
