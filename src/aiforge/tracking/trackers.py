"""Which tracker a run gets (the one place that reads the tracking config and settings), and the
check of its store before the run starts. Trackers implement :class:`aiforge.tracking.tracker.Tracker`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.tracking.tracker import Tracker


def tracker_for(config: ExperimentConfig, settings: AppSettings) -> Tracker | None:
    """The MLflow callback, unless tracking is off (``tracking.enabled: false`` or AIFORGE_TRACKING=false).

    The URI comes from ``tracking.tracking_uri``, then AIFORGE_MLFLOW_TRACKING_URI, then MLflow's own
    default (MLFLOW_TRACKING_URI or a local SQLite file). ``mlflow`` is imported only when tracking is on.
    An AIFORGE_MLFLOW_TRACKING_URI that cannot work is a ConfigError here, where it would be used.
    """
    tracking = config.tracking
    if not (tracking.enabled and settings.TRACKING):
        return None
    if tracking.tracking_uri is None and settings.MLFLOW_TRACKING_URI is not None:
        _check_setting_uri(settings)
    from aiforge.tracking.mlflow_callback import MLflowCallback

    return MLflowCallback(
        experiment_name=tracking.experiment_name or config.experiment_name,
        tracking_uri=tracking.tracking_uri or settings.MLFLOW_TRACKING_URI,
        run_name=tracking.run_name,
        tags=tracking.tags,
        log_model=tracking.log_model,
        log_every_n_steps=tracking.log_every_n_steps,
        on_unreachable=tracking.on_unreachable,
    )


def check_tracking_store(tracker: Tracker | None, run_dir: Path | None = None) -> None:
    """On rank 0, a tracking store that is down, locked or damaged fails the run before its folder
    exists (a resume of ``run_dir``: before it trains, in the store that run was tracked in)."""
    from aiforge.runtime.distributed import is_main_process

    if tracker is not None and is_main_process():
        tracker.check_store(run_dir)


def _check_setting_uri(settings: AppSettings) -> None:
    from aiforge.config.settings import given, setting_source
    from aiforge.config.tracking_uris import redact, uri_problem
    from aiforge.errors import ConfigError

    uri = settings.MLFLOW_TRACKING_URI
    assert uri is not None
    problem = uri_problem(uri)
    if problem is not None:
        setting = given(setting_source(settings, "MLFLOW_TRACKING_URI"), redact(uri))
        raise ConfigError(
            f"{setting}: {problem}; fix or unset it, set tracking.tracking_uri in the config, "
            "or turn tracking off (AIFORGE_TRACKING=false)"
        )
