"""Configuration: the experiment schema, file loading, and application settings."""

from aiforge.config.model_configs import (
    ExperimentConfig,
    ModelSpecificConfig,
    SchedulerConfig,
    SimpleNNConfig,
    TrainingConfig,
)
from aiforge.config.settings import AppSettings, get_settings

__all__ = [
    "AppSettings",
    "ExperimentConfig",
    "ModelSpecificConfig",
    "SchedulerConfig",
    "SimpleNNConfig",
    "TrainingConfig",
    "get_settings",
]
