"""The search space: Optuna distributions, a trial's values set into the base config, and the checks
that make a bad space an error before any trial starts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiforge.config.loading import build_experiment_config
from aiforge.config.model_configs import ExperimentConfig
from aiforge.errors import ConfigError
from aiforge.mappings import set_at_path
from aiforge.sweeps.config import CategoricalParam, FloatParam, IntParam, SweepConfig


def distributions(sweep: SweepConfig) -> dict[str, Any]:
    """Optuna's distribution for each key path of the space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    result: dict[str, Any] = {}
    for key, spec in sweep.space.items():
        if isinstance(spec, FloatParam):
            result[key] = FloatDistribution(spec.low, spec.high, log=spec.log)
        elif isinstance(spec, IntParam):
            result[key] = IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
        else:
            result[key] = CategoricalDistribution(spec.choices)
    return result


def apply_params(base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the base config data with each ``a.b.c`` key path set to its value."""
    data = copy.deepcopy(dict(base))
    for key, value in params.items():
        try:
            set_at_path(data, key, value)
        except ValueError as err:
            raise ConfigError(f"sweep.space.{key}: {err} in the config") from None
    return data


def trial_config(
    base: Mapping[str, Any], params: Mapping[str, Any], source: str, plugins_dir: Path | None = None
) -> ExperimentConfig:
    """The validated config of one trial."""
    return build_experiment_config(apply_params(base, params), source=source, plugins_dir=plugins_dir)


def _probe_values(spec: FloatParam | IntParam | CategoricalParam) -> list[Any]:
    if isinstance(spec, CategoricalParam):
        return list(spec.choices)
    return [spec.low, spec.high]


def check_space(
    base: Mapping[str, Any], config: ExperimentConfig, sweep: SweepConfig, plugins_dir: Path | None = None
) -> None:
    """Every key path exists and every bound or choice makes a valid config; the metric is one the
    runs log. A ConfigError naming the key, before any trial starts."""
    for key in sweep.space:
        if not all(key.split(".")):
            raise ConfigError(f"sweep.space: '{key}' is not a key path such as training_config.learning_rate")
        if key == "sweep" or key.startswith("sweep."):
            raise ConfigError(f"sweep.space.{key}: a sweep cannot search its own settings")
    for key, spec in sweep.space.items():
        for value in _probe_values(spec):
            try:
                trial_config(base, {key: value}, f"the sweep's space ({key}={value!r})", plugins_dir)
            except ConfigError as err:
                raise ConfigError(
                    f"sweep.space.{key}: the value {value!r} does not make a valid experiment config "
                    f"(is the key path right?):\n{err}"
                ) from None
    known = produced_metrics(config)
    if sweep.metric not in known:
        raise ConfigError(
            f"sweep.metric: '{sweep.metric}' is not logged by this experiment's runs; "
            f"choose from {', '.join(known)}"
        )
    if sweep.sampler == "grid":
        size = 1
        for values in sweep.grid().values():
            size *= len(values)
        if sweep.trials > size:
            raise ConfigError(
                f"sweep.trials: {sweep.trials} trials, but the grid has only {size} combinations; "
                f"set sweep.trials to at most {size}"
            )


def produced_metrics(config: ExperimentConfig) -> list[str]:
    """The validation values a run of ``config`` reports per epoch and in its final results."""
    from aiforge.training.builders import task_for_loss
    from aiforge.utils.metrics import default_metrics

    names = (
        config.metrics
        if config.metrics is not None
        else default_metrics(task_for_loss(config.training_config.loss_fn_name))
    )
    return ["val_loss", *(f"val_{name}" for name in names)]
