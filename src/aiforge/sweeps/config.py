"""The ``sweep:`` section of an experiment file: what to optimise, over which config keys, how."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from aiforge.config.model_configs import EXPERIMENT_NAME_PATTERN, monitor_key
from aiforge.config.strict import StrictSection


class _Param(BaseModel):
    """A strict section (unknown keys are errors) whose ``type`` picks the class (so it cannot use
    StrictSection's catch-all validator, which pydantic refuses on a discriminator)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("low", "high", "step", mode="before", check_fields=False)
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number, not a boolean")
        return value


class FloatParam(_Param):
    """A real number between ``low`` and ``high``, on a log scale when ``log``."""

    type: Literal["float"] = Field(description="float: a real number in [low, high].")
    low: float = Field(description="Smallest value tried.", allow_inf_nan=False)
    high: float = Field(description="Largest value tried.", allow_inf_nan=False)
    log: bool = Field(False, description="Sample on a log scale (for learning rates); needs low > 0.")

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        return self


class IntParam(_Param):
    """A whole number between ``low`` and ``high`` (both included), every ``step``."""

    type: Literal["int"] = Field(description="int: a whole number in [low, high].")
    low: int = Field(description="Smallest value tried.")
    high: int = Field(description="Largest value tried (included).")
    step: PositiveInt = Field(1, description="Distance between the values tried.")
    log: bool = Field(False, description="Sample on a log scale; needs low > 0 and step 1.")

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("log: true needs step 1 (Optuna samples a log scale only over every integer)")
        if (self.high - self.low) % self.step:  # Optuna would quietly drop the values past the last step
            last = self.low + (self.high - self.low) // self.step * self.step
            hint = f"e.g. high: {last}" if last > self.low else f"or a step of at most {self.high - self.low}"
            raise ValueError(
                f"step {self.step} does not lead from low {self.low} to high {self.high}; "
                f"make high - low a multiple of step ({hint})"
            )
        return self

    def values(self) -> list[int]:
        """Every value of the range, for grid search."""
        return list(range(self.low, self.high + 1, self.step))


class CategoricalParam(_Param):
    """One of a list of values (numbers, text, booleans or null)."""

    type: Literal["categorical"] = Field(description="categorical: one of choices.")
    choices: list[str | int | float | bool | None] = Field(
        min_length=1, description="The values tried, e.g. [Adam, SGD] or [64, 128, 256]."
    )

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[Any]) -> list[Any]:
        if any(isinstance(c, float) and not math.isfinite(c) for c in choices):
            raise ValueError("choices must be finite numbers")
        if len({repr(c) for c in choices}) != len(choices):
            raise ValueError("a value appears twice in choices")
        return choices


ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool) -> None:
    if low >= high:
        raise ValueError(f"empty range: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"log: true needs low > 0 (got {low})")


class SweepConfig(StrictSection):
    """A hyperparameter search: trials of the base experiment with values from ``space``."""

    metric: str = Field(
        "val_loss",
        description="Validation metric to optimise, as logged by the runs: val_loss or val_<metric> "
        "(accuracy is read as val_accuracy).",
    )
    direction: Literal["minimize", "maximize"] | None = Field(
        None,
        description="minimize or maximize; default: follows the metric (losses minimise, scores maximise).",
    )
    trials: PositiveInt = Field(10, description="Number of trials to finish (complete or pruned).")
    space: dict[str, ParamSpec] = Field(
        description="Config key path (e.g. training_config.learning_rate, model_config.hidden_dim) -> "
        "{type: float, low, high, log} | {type: int, low, high, step} | {type: categorical, choices}.",
        min_length=1,
    )
    sampler: Literal["tpe", "random", "grid"] = Field(
        "tpe", description="Optuna sampler: tpe (default), random, or grid (every combination of choices)."
    )
    pruner: Literal["none", "median", "hyperband"] = Field(
        "none",
        description="Stop unpromising trials early from their per-epoch metric: none, median, hyperband.",
    )
    workers: PositiveInt = Field(1, description="Trials run at once on this machine (separate processes).")
    study_name: str | None = Field(
        None, description="Optuna study (and sweep folder) name; default: the experiment_name."
    )
    storage: str | None = Field(
        None,
        description="Optuna storage: an RDB URL (postgresql://..., sqlite:///...) or a journal file path "
        "(on a shared disk for several machines); default: a journal file in the sweep folder.",
    )

    @field_validator("metric")
    @classmethod
    def _metric_key(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name a validation metric, e.g. val_loss or val_accuracy")
        if name.startswith("test_"):
            raise ValueError(
                f"'{name}' is a held-out test metric, which a sweep never looks at (that is what keeps it "
                f"honest); optimise the validation one, e.g. val_{name.removeprefix('test_')}"
            )
        return monitor_key(name)

    @field_validator("study_name")
    @classmethod
    def _safe_name(cls, name: str | None) -> str | None:
        if name is not None and (not EXPERIMENT_NAME_PATTERN.fullmatch(name) or name in (".", "..")):
            raise ValueError(
                "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a "
                "letter or digit (it becomes a folder name)"
            )
        return name

    @model_validator(mode="after")
    def _grid_needs_lists(self) -> SweepConfig:
        if self.sampler == "grid":
            floats = [key for key, spec in self.space.items() if isinstance(spec, FloatParam)]
            if floats:
                raise ValueError(
                    f"sampler grid needs a finite list per key: give {', '.join(floats)} as "
                    "{type: categorical, choices: [...]} (or an int range with a step)"
                )
        return self

    @property
    def resolved_direction(self) -> str:
        """The direction given, else the metric's (as early stopping's mode follows its monitor)."""
        if self.direction is not None:
            return self.direction
        from aiforge.utils.metrics import monitor_mode

        return "minimize" if monitor_mode(self.metric) == "min" else "maximize"

    def grid(self) -> dict[str, list[Any]]:
        """Each key's values for grid search."""
        return {
            key: spec.choices if isinstance(spec, CategoricalParam) else spec.values()  # type: ignore[union-attr]
            for key, spec in self.space.items()
        }
