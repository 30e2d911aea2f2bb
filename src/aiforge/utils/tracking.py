"""Which tracker a run gets: the one place that reads the tracking config and settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.utils.callbacks import Callback


def tracker_for(config: ExperimentConfig, settings: AppSettings) -> Callback | None:
    """The MLflow callback, unless tracking is off (``tracking.enabled: false`` or AIFORGE_TRACKING=false).

    The URI comes from ``tracking.tracking_uri``, then AIFORGE_MLFLOW_TRACKING_URI, then MLflow's own
    default (MLFLOW_TRACKING_URI or a local SQLite file). ``mlflow`` is imported only when tracking is on.
    """
    tracking = config.tracking
    if not (tracking.enabled and settings.TRACKING):
        return None
    from aiforge.utils.mlflow_callback import MLflowCallback

    return MLflowCallback(
        experiment_name=tracking.experiment_name or config.experiment_name,
        tracking_uri=tracking.tracking_uri or settings.MLFLOW_TRACKING_URI,
        run_name=tracking.run_name,
        tags=tracking.tags,
        log_model=tracking.log_model,
        log_every_n_steps=tracking.log_every_n_steps,
        on_unreachable=tracking.on_unreachable,
    )
