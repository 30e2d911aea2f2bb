"""AIForge: plugin-based PyTorch experiments. Importing this package has no side effects.

The public API is re-exported lazily: ``from aiforge import ExperimentConfig`` imports
only what that name needs.
"""

from typing import TYPE_CHECKING

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "AppSettings": "aiforge.config.settings",
    "get_settings": "aiforge.config.settings",
    "ExperimentConfig": "aiforge.config.model_configs",
    "TrainingConfig": "aiforge.config.model_configs",
    "SchedulerConfig": "aiforge.config.model_configs",
    "ModelSpecificConfig": "aiforge.config.model_configs",
    "SimpleNNConfig": "aiforge.config.model_configs",
    "load_experiment_config": "aiforge.config.loading",
    "BaseModel": "aiforge.core.base_model",
    "BaseDataset": "aiforge.core.data_pipeline",
    "InMemoryDataset": "aiforge.core.data_pipeline",
    "BasePreprocessor": "aiforge.core.data_pipeline",
    "Orchestrator": "aiforge.core.orchestrator",
    "Container": "aiforge.container",
    "Callback": "aiforge.utils.callbacks",
    "EarlyStopping": "aiforge.utils.callbacks",
    "ModelCheckpoint": "aiforge.utils.callbacks",
    "MLflowCallback": "aiforge.tracking.mlflow_callback",
    "AIForgeError": "aiforge.errors",
    "BadItemError": "aiforge.errors",
    "CheckpointError": "aiforge.errors",
    "ConfigError": "aiforge.errors",
    "DataError": "aiforge.errors",
    "PluginError": "aiforge.errors",
    "Sweep": "aiforge.sweeps.sweep",
    "SweepConfig": "aiforge.sweeps.config",
}
__all__ = [
    "AIForgeError",
    "AppSettings",
    "BadItemError",
    "BaseDataset",
    "BaseModel",
    "BasePreprocessor",
    "Callback",
    "CheckpointError",
    "ConfigError",
    "Container",
    "DataError",
    "EarlyStopping",
    "ExperimentConfig",
    "InMemoryDataset",
    "MLflowCallback",
    "ModelCheckpoint",
    "ModelSpecificConfig",
    "Orchestrator",
    "PluginError",
    "SchedulerConfig",
    "SimpleNNConfig",
    "Sweep",
    "SweepConfig",
    "TrainingConfig",
    "get_settings",
    "load_experiment_config",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for editors and type checkers only
    from aiforge.config.loading import load_experiment_config
    from aiforge.config.model_configs import (
        ExperimentConfig,
        ModelSpecificConfig,
        SchedulerConfig,
        SimpleNNConfig,
        TrainingConfig,
    )
    from aiforge.config.settings import AppSettings, get_settings
    from aiforge.container import Container
    from aiforge.core.base_model import BaseModel
    from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, InMemoryDataset
    from aiforge.core.orchestrator import Orchestrator
    from aiforge.errors import (
        AIForgeError,
        BadItemError,
        CheckpointError,
        ConfigError,
        DataError,
        PluginError,
    )
    from aiforge.sweeps.config import SweepConfig
    from aiforge.sweeps.sweep import Sweep
    from aiforge.utils.callbacks import Callback, EarlyStopping, ModelCheckpoint
