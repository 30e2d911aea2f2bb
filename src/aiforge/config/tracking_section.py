"""The ``tracking`` section: which trackers a run gets, and MLflow's settings.

Re-exported by :mod:`aiforge.config.model_configs`, the seed's import path of the schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from aiforge.config.strict import StrictSection

TrackingBackend = Literal["mlflow", "tensorboard", "csv", "wandb"]


class TrackingConfig(StrictSection):
    """Tracking of the run: MLflow by default (to MLflow's default local store), or any set of
    ``backends``; ``tracking_uri``, ``experiment_name``, ``log_model`` and ``on_unreachable`` are MLflow's."""

    enabled: bool = Field(
        True, description="Track this run (AIFORGE_TRACKING=false also turns every backend off)."
    )
    backends: list[TrackingBackend] = Field(
        default_factory=lambda: ["mlflow"],
        description="Where to track the run, any of mlflow, tensorboard (event files in the run "
        "folder's tensorboard/), csv (csv/metrics.csv in the run folder), wandb (needs the wandb package).",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: AIFORGE_MLFLOW_TRACKING_URI, then MLflow's own default.",
    )
    experiment_name: str | None = Field(None, description="MLflow experiment; default: experiment_name.")
    run_name: str | None = Field(None, description="MLflow run name; default: the run folder's name.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on the MLflow run.")
    log_model: bool = Field(
        True,
        description="Log the model with its preprocessing to MLflow (pyfunc-loadable): a torch.export "
        "graph (no pickle), or pickled with a warning when the model cannot be traced.",
    )
    log_every_n_steps: PositiveInt | None = Field(
        None,
        description="Also log the training loss (step_train_loss) every N optimizer steps, at step = "
        "the optimizer step (trainer.global_step), in every backend.",
    )
    on_unreachable: Literal["fail", "warn"] = Field(
        "fail",
        description="When the MLflow store cannot be used at the start (server down, file locked or "
        "damaged): fail (exit 2, nothing made), or warn and train untracked.",
    )

    @field_validator("backends")
    @classmethod
    def _unique_backends(cls, backends: list[str]) -> list[str]:
        repeated = sorted({name for name in backends if backends.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once; name each backend once")
        return backends

    @field_validator("tracking_uri")
    @classmethod
    def _usable_uri(cls, uri: str | None) -> str | None:
        from aiforge.config.tracking_uris import uri_problem

        problem = uri_problem(uri) if uri is not None else None
        if problem is not None:
            raise ValueError(problem)
        return uri
