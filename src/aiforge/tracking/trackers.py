"""Which trackers a run gets (the one place that reads the tracking config and settings), and the
check of their stores before the run starts. Trackers implement :class:`aiforge.tracking.tracker.Tracker`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.tracking.tracker import Tracker


def trackers_for(config: ExperimentConfig, settings: AppSettings) -> list[Tracker]:
    """One tracker per name in ``tracking.backends``, in that order; none when tracking is off
    (``tracking.enabled: false`` or AIFORGE_TRACKING=false). Each backend's package is imported
    only when the backend is chosen (``wandb``: when the run starts; missing, a ConfigError now)."""
    tracking = config.tracking
    if not (tracking.enabled and settings.TRACKING):
        return []
    return [_TRACKERS[name](config, settings) for name in tracking.backends]


def _mlflow(config: ExperimentConfig, settings: AppSettings) -> Tracker:
    """The MLflow callback. The URI comes from ``tracking.tracking_uri``, then
    AIFORGE_MLFLOW_TRACKING_URI, then MLflow's own default (MLFLOW_TRACKING_URI or a local SQLite
    file). An AIFORGE_MLFLOW_TRACKING_URI that cannot work is a ConfigError here, where it would be used.
    """
    tracking = config.tracking
    if tracking.tracking_uri is None and settings.MLFLOW_TRACKING_URI is not None:
        _check_setting_uri(settings)
    from aiforge.tracking.mlflow_callback import MLflowCallback
    from aiforge.tracking.run_values import lr_per_step

    return MLflowCallback(
        experiment_name=tracking.experiment_name or config.experiment_name,
        tracking_uri=tracking.tracking_uri or settings.MLFLOW_TRACKING_URI,
        run_name=tracking.run_name,
        tags=tracking.tags,
        log_model=tracking.log_model,
        log_every_n_steps=tracking.log_every_n_steps,
        on_unreachable=tracking.on_unreachable,
        lr_per_step=lr_per_step(config),
    )


def _tensorboard(config: ExperimentConfig, settings: AppSettings) -> Tracker:
    from aiforge.tracking.run_values import lr_per_step
    from aiforge.tracking.tensorboard_tracker import TensorBoardTracker

    return TensorBoardTracker(config.tracking.log_every_n_steps, lr_per_step(config))


def _csv(config: ExperimentConfig, settings: AppSettings) -> Tracker:
    from aiforge.tracking.csv_tracker import CSVTracker
    from aiforge.tracking.run_values import lr_per_step

    return CSVTracker(config.tracking.log_every_n_steps, lr_per_step(config))


def _wandb(config: ExperimentConfig, settings: AppSettings) -> Tracker:
    import importlib.util

    from aiforge.errors import ConfigError

    if importlib.util.find_spec("wandb") is None:
        raise ConfigError(
            "tracking.backends: wandb needs the wandb package, which is not installed: "
            "pip install wandb (or remove wandb from tracking.backends)"
        )
    from aiforge.tracking.run_values import lr_per_step
    from aiforge.tracking.wandb_tracker import WandbTracker

    tracking = config.tracking
    return WandbTracker(
        project=tracking.experiment_name or config.experiment_name,
        run_name=tracking.run_name,
        log_every_n_steps=tracking.log_every_n_steps,
        lr_per_step=lr_per_step(config),
    )


_TRACKERS: dict[str, Callable[[ExperimentConfig, AppSettings], Tracker]] = {
    "mlflow": _mlflow,
    "tensorboard": _tensorboard,
    "csv": _csv,
    "wandb": _wandb,
}


def check_tracking_store(trackers: Sequence[Tracker], run_dir: Path | None = None) -> None:
    """On rank 0, a tracking store that is down, locked or damaged fails the run before its folder
    exists (a resume of ``run_dir``: before it trains, in the store that run was tracked in)."""
    from aiforge.runtime.distributed import is_main_process

    if is_main_process():
        for tracker in trackers:
            tracker.check_store(run_dir)


def share_run_ids(trackers: Sequence[Tracker]) -> None:
    """Under torchrun, rank 0 started the tracked runs: every rank learns their ids (a resume
    reopens them from any rank's checkpoint) in one collective call for all the trackers."""
    from aiforge.runtime import distributed

    if trackers and distributed.is_initialized():
        run_ids = distributed.broadcast_object([tracker.run_id for tracker in trackers])
        for tracker, run_id in zip(trackers, run_ids, strict=True):
            tracker.run_id = run_id


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
