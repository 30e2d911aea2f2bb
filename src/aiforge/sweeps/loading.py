"""Read a sweep file: an experiment config with a ``sweep:`` section, overrides applied to both."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aiforge.config.loading import build_experiment_config, compose_file, plain_copy
from aiforge.config.model_configs import ExperimentConfig
from aiforge.errors import ConfigError
from aiforge.sweeps.config import SweepConfig


@dataclass(frozen=True)
class SweepSetup:
    """The base experiment (as data, for applying trial values, and validated) and the sweep."""

    base: dict[str, Any]
    config: ExperimentConfig
    sweep: SweepConfig
    source: str


def sweep_config(data: Any, source: str = "config") -> SweepConfig:
    """Validate a ``sweep:`` mapping; every problem is one line naming its key path under ``sweep.``."""
    if isinstance(data, SweepConfig):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: sweep: expected a mapping (metric, trials, space, ...), got {data!r}")
    try:
        return SweepConfig.model_validate(dict(data))
    except ValidationError as err:
        lines = []
        for error in err.errors():
            # A discriminated union puts the chosen type in the location: drop it.
            loc = [str(p) for p in error["loc"] if p not in ("float", "int", "categorical")]
            path = ".".join(["sweep", *loc])
            if error["type"] == "extra_forbidden":
                lines.append(f"  {path}: unknown key")
            elif error["type"] == "missing":
                lines.append(f"  {path}: required key is missing")
            else:
                lines.append(f"  {path}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError(f"invalid sweep config in {source}:\n" + "\n".join(lines)) from None


def load_sweep_file(
    path: str | Path,
    overrides: Iterable[str] = (),
    sweep_options: Mapping[str, Any] | None = None,
    plugins_dir: Path | None = None,
) -> SweepSetup:
    """Read the file, apply ``-o`` overrides (``sweep.trials=4`` too) and the command's options
    (``workers``, ``storage``, ``study_name``: set as given, never parsed), then validate both parts."""
    path = Path(path)
    composed = compose_file(path, overrides)  # base: files and ${...} references, as `aiforge run` reads
    data = composed.data
    sweep_data = data.pop("sweep", None)
    if sweep_data is None:
        raise ConfigError(
            f"{path}: no sweep: section; add one naming the metric, the trials and the search space "
            "(see docs/sweeps.md), or train one configuration with `aiforge run`"
        )
    if isinstance(sweep_data, dict):
        sweep_data = {**sweep_data, **{k: v for k, v in (sweep_options or {}).items() if v is not None}}
    for key in ("data_path", "test_data_path"):  # beside the file, as load_experiment_config does
        value = data.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            beside = composed.file_of([key]).parent / value
            if not _exists(Path(value)) and _exists(beside):
                data[key] = str(beside.resolve())
    return setup_from(data, sweep_data, str(path), plugins_dir, origin=composed.origin)


def _exists(path: Path) -> bool:
    """``path.exists()``, False for text no file can have (a NUL, too long): the schema says why."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def setup_from(
    base: Mapping[str, Any] | ExperimentConfig,
    sweep: Mapping[str, Any] | SweepConfig,
    source: str = "config",
    plugins_dir: Path | None = None,
    origin: Callable[[Iterable[Any]], str] | None = None,
) -> SweepSetup:
    """A SweepSetup from data or validated objects (the Python API's way in); ``origin`` names
    the file (a base file, an override) that set a key path, for error messages."""
    if isinstance(base, ExperimentConfig):
        data = base.model_dump(mode="json", by_alias=True)  # as config.yaml records it
    else:
        data = plain_copy(dict(base), source)
    if "sweep" in data:
        raise ConfigError(f"{source}: give the sweep section separately, not inside the experiment config")
    sweep_cfg = sweep_config(sweep, source)
    config = build_experiment_config(data, source=source, plugins_dir=plugins_dir, origin=origin)
    return SweepSetup(base=data, config=config, sweep=sweep_cfg, source=source)
