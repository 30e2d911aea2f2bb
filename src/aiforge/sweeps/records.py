"""The sweep folder's records: trials.csv and sweep_results.json, rewritten atomically after each trial
from the study (so every worker and machine writes the same, complete picture)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aiforge.reporting.sweep_folder import CONFIG_FILE, RESULTS_FILE, TRIALS_FILE
from aiforge.runs import files as run_files
from aiforge.runtime.log import logger
from aiforge.sweeps.config import SweepConfig

FINISHED = ("COMPLETE", "PRUNED")


def counts(trials: list[Any]) -> dict[str, int]:
    """Trials by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    result: dict[str, int] = {}
    for trial in trials:
        result[trial.state.name] = result.get(trial.state.name, 0) + 1
    return result


def finished(trials: list[Any]) -> int:
    c = counts(trials)
    return sum(c.get(state, 0) for state in FINISHED)


def failed(trials: list[Any]) -> list[Any]:
    """FAIL trials that were real failures: not cut off by a kill (their values ran again, see
    ``requeued_from``) and not surplus (asked when enough trials were already under way)."""
    requeued = {t.user_attrs.get("requeued_from") for t in trials}
    return [
        t
        for t in trials
        if t.state.name == "FAIL" and not t.user_attrs.get("surplus") and t.number not in requeued
    ]


def best_trial(trials: list[Any], direction: str) -> Any | None:
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    if direction == "minimize":
        return min(complete, key=lambda t: (t.value, t.number))
    return max(complete, key=lambda t: (t.value, -t.number))  # ties: the earlier trial


def trials_table(trials: list[Any], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", *keys, "value", "duration_s", "run_dir"])
    for t in sorted(trials, key=lambda t: t.number):
        duration = (
            f"{(t.datetime_complete - t.datetime_start).total_seconds():.3f}"
            if t.datetime_complete is not None and t.datetime_start is not None
            else ""
        )
        value = t.value if t.value is not None else _last_report(t)
        writer.writerow(
            [
                t.number,
                t.state.name,
                *(t.params.get(k, "") for k in keys),
                "" if value is None else value,
                duration,
                t.user_attrs.get("run_dir", ""),
            ]
        )
    return out.getvalue()


def _last_report(trial: Any) -> float | None:
    """A pruned trial's value: its last reported epoch's metric."""
    if trial.state.name != "PRUNED" or not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def results_record(study_name: str, sweep: SweepConfig, trials: list[Any]) -> dict[str, Any]:
    c = counts(trials)
    best = best_trial(trials, sweep.resolved_direction)
    record: dict[str, Any] = {
        "study_name": study_name,
        "metric": sweep.metric,
        "direction": sweep.resolved_direction,
        "trials_requested": sweep.trials,
        "trials_complete": c.get("COMPLETE", 0),
        "trials_pruned": c.get("PRUNED", 0),
        "trials_failed": len(failed(trials)),
        "best_trial": None,
        "best_params": None,
        "best_value": None,
        "best_run_dir": None,
    }
    if best is not None:
        record.update(
            best_trial=best.number,
            best_params=dict(best.params),
            best_value=best.value,
            best_run_dir=best.user_attrs.get("run_dir"),
            best_val_loss=best.user_attrs.get("val_loss"),
            best_val_metrics=best.user_attrs.get("val_metrics"),
        )
        for key in ("test_loss", "test_metrics"):
            if key in best.user_attrs:
                record[f"best_{key}"] = best.user_attrs[key]
    return record


def write_records(folder: Path, study_name: str, sweep: SweepConfig, trials: list[Any]) -> dict[str, Any]:
    """Rewrite trials.csv and sweep_results.json; returns the results record."""
    record = results_record(study_name, sweep, trials)
    run_files.write_text(folder / TRIALS_FILE, trials_table(trials, list(sweep.space)))
    run_files.write_json(folder / RESULTS_FILE, record)
    return record


def write_final_records(
    folder: Path, study_name: str, sweep: SweepConfig, trials: list[Any]
) -> dict[str, Any]:
    """The records when the sweep ends, then its pictures and report.html (a failure to draw costs
    the pictures, never the records); returns the results record."""
    from aiforge.sweeps.pictures import draw_report

    record = write_records(folder, study_name, sweep, trials)
    report = draw_report(folder, sweep.resolved_direction, trials)
    if report is not None:
        logger.info(f"Sweep report: {report}")
    return record


def write_sweep_config(folder: Path, base: dict[str, Any], sweep: SweepConfig) -> None:
    """The experiment and its sweep section as one file (``aiforge sweep`` runs it again); the
    storage URL without its password."""
    import yaml

    from aiforge.config.tracking_uris import redact

    section = sweep.model_dump(mode="json", exclude_none=True)
    if sweep.storage is not None:
        section["storage"] = redact(sweep.storage)
    run_files.write_text(folder / CONFIG_FILE, yaml.safe_dump({**base, "sweep": section}, sort_keys=False))
