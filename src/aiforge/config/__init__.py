"""Configuration: the experiment schema, file loading, and application settings; re-exported on
first use, so that a leaf such as config/model_section.py loads without the whole schema."""

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "AppSettings": "aiforge.config.settings",
    "ExperimentConfig": "aiforge.config.model_configs",
    "ModelSpecificConfig": "aiforge.config.model_configs",
    "SchedulerConfig": "aiforge.config.model_configs",
    "SimpleNNConfig": "aiforge.config.model_configs",
    "TrainingConfig": "aiforge.config.model_configs",
    "get_settings": "aiforge.config.settings",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
