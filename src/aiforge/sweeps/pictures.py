"""A sweep's pictures and report.html, drawn when the sweep ends and rebuilt by ``aiforge report
SWEEP_DIR``. Drawn from an in-memory copy of the finished trials (from the study at the end, from
trials.csv on a rebuild), so a rebuild needs no storage server and never writes to the study."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aiforge.errors import DataError
from aiforge.reporting import sweep_folder
from aiforge.runtime.log import logger
from aiforge.sweeps.config import SweepConfig

FINISHED = ("COMPLETE", "PRUNED")


def draw_report(folder: Path, direction: str, trials: list[Any], overwrite: bool = True) -> Path | None:
    """The pictures and report.html of a sweep; a failure costs them, never the sweep's records
    (as a run's report). Returns the report's path, None when it could not be written."""
    from aiforge.reporting.sweep_plots import write_sweep_plots
    from aiforge.reporting.sweep_report import build_sweep_report

    notes: list[str] = []
    try:
        _, notes = write_sweep_plots(folder, memory_study(direction, trials), overwrite=overwrite)
    except Exception as err:  # optuna or matplotlib missing or broken: the page without pictures
        logger.opt(exception=err).debug("Sweep pictures failed")
        notes.append(f"No pictures: {type(err).__name__}: {err}")
    try:
        return build_sweep_report(folder, notes)
    except Exception as err:
        logger.opt(exception=err).debug("Sweep report failed")
        logger.warning(f"No report for this sweep: {err}  (retry: aiforge report {folder})")
        return None


def memory_study(direction: str, trials: list[Any]) -> Any:
    """An in-memory study holding copies of the complete and pruned trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # as the sweep's own study does
    study = optuna.create_study(direction=direction)
    study.add_trials([t for t in trials if t.state.name in FINISHED])
    return study


def rebuild_report(folder: Path, redraw: bool = False) -> Path:
    """``aiforge report SWEEP_DIR``: the report again, drawing the missing pictures (all with
    ``redraw``) from sweep_config.yaml and trials.csv. A DataError when the folder cannot say what
    its sweep was."""
    sweep = read_sweep_config(folder)
    trials = trials_from_table(folder, sweep)
    path = draw_report(folder, sweep.resolved_direction, trials, overwrite=redraw)
    if path is None:
        raise DataError(f"the report of the sweep in {folder} could not be written (see the warning above)")
    return path


def read_sweep_config(folder: Path) -> SweepConfig:
    import yaml
    from pydantic import ValidationError

    path = Path(folder) / sweep_folder.CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return SweepConfig.model_validate((data or {}).get("sweep"))
    except FileNotFoundError:
        raise DataError(f"{folder} has no {sweep_folder.CONFIG_FILE}: it is not a sweep folder") from None
    except (OSError, yaml.YAMLError, AttributeError, ValidationError) as err:
        raise DataError(f"{path}: cannot read its sweep section: {err}") from None


def trials_from_table(folder: Path, sweep: SweepConfig) -> list[Any]:
    """The finished trials of trials.csv as Optuna trials (a pruned trial without its value)."""
    from optuna.trial import TrialState, create_trial

    from aiforge.sweeps.space import distributions

    space = distributions(sweep)
    trials = []
    for row in sweep_folder.read_trials(folder):
        state = row.get("state")
        if state not in FINISHED:
            continue
        params = {
            key: _param(row.get(key, ""), dist) for key, dist in space.items() if row.get(key, "") != ""
        }
        value = _number(row.get("value", ""))
        if state == "COMPLETE" and value is None:
            continue
        trials.append(
            create_trial(
                params={k: v for k, v in params.items() if v is not None},
                distributions={k: space[k] for k, v in params.items() if v is not None},
                value=value if state == "COMPLETE" else None,
                state=TrialState.COMPLETE if state == "COMPLETE" else TrialState.PRUNED,
            )
        )
    return trials


def _param(text: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return next((choice for choice in distribution.choices if str(choice) == text), None)
    number = _number(text)
    if number is None:
        return None
    return int(number) if isinstance(distribution, IntDistribution) else number


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
