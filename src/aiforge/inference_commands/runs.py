"""``aiforge runs`` (the runs and sweeps in the results folder) and ``aiforge compare`` (two runs, or
two sweeps' best trials, side by side)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError, did_you_mean
from aiforge.inference_commands.loading import read_json
from aiforge.mappings import flatten  # config keys as dotted names (``training_config.learning_rate``)
from aiforge.reporting import sweep_folder
from aiforge.runs import files as run_files

COMPLETED, INCOMPLETE, UNREADABLE = "completed", "incomplete", "unreadable results"
ABSENT = "(absent)"


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and any(
        (path / name).exists()
        for name in (run_files.CONFIG_FILE, run_files.RESULTS_FILE, run_files.CHECKPOINT_DIR)
    )


def _started(run_dir: Path) -> datetime:
    """When the run started: ``environment.json``'s time, else the folder's name, else its mtime."""
    try:
        environment = read_json(run_dir / run_files.ENVIRONMENT_FILE)
        return datetime.fromisoformat(environment["created"]).astimezone()
    except (ConfigError, TypeError, KeyError, ValueError):
        pass
    try:
        return datetime.strptime(run_dir.name[:15], "%Y%m%d-%H%M%S").astimezone()
    except ValueError:
        return datetime.fromtimestamp(run_dir.stat().st_mtime).astimezone()


def run_summary(run_dir: Path) -> dict[str, Any]:
    """One row of ``aiforge runs``: id, experiment, date, status, final metrics, folder."""
    results: Any = None
    status = INCOMPLETE
    if (run_dir / run_files.RESULTS_FILE).exists():
        try:
            results = read_json(run_dir / run_files.RESULTS_FILE)
            status = COMPLETED if isinstance(results, dict) else UNREADABLE
        except ConfigError:
            status = UNREADABLE
    results = results if isinstance(results, dict) else {}
    started = _started(run_dir)
    summary = {
        "id": run_dir.name,
        "experiment": run_dir.parent.name,
        "date": started.strftime("%Y-%m-%d %H:%M:%S"),
        "started": started.timestamp(),
        "status": status,
        "final_val_loss": results.get("final_val_loss"),
        "final_val_metrics": results.get("final_val_metrics") or {},
        "epochs_completed": results.get("epochs_completed"),
        "folder": str(run_dir),
    }
    if "test_loss" in results:  # only runs with a held-out test split: others list as before
        summary["test_loss"] = results.get("test_loss")
        summary["test_metrics"] = results.get("test_metrics") or {}
    return summary


def list_runs(results_dir: Path, experiment: str | None = None) -> list[dict[str, Any]]:
    """Every run under ``results_dir`` (or one experiment's), newest first."""
    experiments = _experiment_dirs(Path(results_dir), experiment)
    runs = [run_summary(run) for exp in experiments for run in sorted(exp.iterdir()) if _is_run_dir(run)]
    return sorted(runs, key=lambda r: (r["started"], r["id"]), reverse=True)


def _experiment_dirs(results_dir: Path, experiment: str | None) -> list[Path]:
    """The experiment folders (or the one named); a ConfigError names the ones there."""
    if not results_dir.is_dir():
        return []
    experiments = sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if experiment is not None:
        names = [p.name for p in experiments]
        if experiment not in names:
            known = f"; experiments there: {', '.join(names)}" if names else "; it holds no experiments yet"
            raise ConfigError(
                f"no experiment {experiment!r} in {results_dir}{did_you_mean(experiment, names)}{known}"
            )
        experiments = [results_dir / experiment]
    return experiments


# -- sweeps -------------------------------------------------------------------------------
def sweep_summary(folder: Path) -> dict[str, Any]:
    """One row of the sweeps table: study, experiment, trials finished/requested, best, folder."""
    results = sweep_folder.read_results(folder)
    requested = results.get("trials_requested")
    if requested is None:  # no trial finished yet: the config says how many were asked for
        requested = _requested_trials(folder)
    return {
        "study": results.get("study_name") or folder.name,
        "experiment": folder.parent.parent.name,
        "metric": results.get("metric"),
        "direction": results.get("direction"),
        "trials_finished": (results.get("trials_complete") or 0) + (results.get("trials_pruned") or 0),
        "trials_requested": requested,
        "trials_failed": results.get("trials_failed") or 0,
        "best_trial": results.get("best_trial"),
        "best_value": results.get("best_value"),
        "best_params": results.get("best_params"),
        "best_run_dir": results.get("best_run_dir"),
        "folder": str(folder),
    }


def _requested_trials(folder: Path) -> int | None:
    import yaml

    try:
        data = yaml.safe_load((folder / sweep_folder.CONFIG_FILE).read_text(encoding="utf-8"))
        return int(data["sweep"]["trials"])
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return None


def list_sweeps(results_dir: Path, experiment: str | None = None) -> list[dict[str, Any]]:
    """Every sweep under ``results_dir`` (or one experiment's), by experiment and study name."""
    experiments = _experiment_dirs(Path(results_dir), experiment)
    return [sweep_summary(folder) for exp in experiments for folder in sweep_folder.sweep_folders(exp)]


def sweeps_table(sweeps: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in ("experiment", "study", "trials", "metric", "best value", "best trial"):
        table.add_column(column, justify="right" if column in ("trials", "best value") else "left")
    table.add_column("folder", overflow="fold")
    for sweep in sweeps:
        requested = sweep["trials_requested"]
        done = f"{sweep['trials_finished']}/{'-' if requested is None else requested}"
        if sweep["trials_failed"]:
            done += f" ({sweep['trials_failed']} failed)"
        metric = f"{sweep['metric']} ({sweep['direction']})" if sweep["metric"] else "-"
        table.add_row(
            sweep["experiment"],
            sweep["study"],
            done,
            metric,
            _fmt(sweep["best_value"]),
            _fmt(sweep["best_trial"]),
            sweep["folder"],
        )
    return table


def sweep_best_run(path: Path, results_dir: Path | None = None) -> dict[str, Any] | None:
    """For ``aiforge compare``: when ``path`` names a sweep folder, its summary with ``run_dir``, the
    best trial's run folder; None when it is not a sweep folder. A sweep without a complete trial,
    or whose best run folder is gone, is a ConfigError."""
    folder = run_files.find_run_dir(path, results_dir, need=()).path
    if not sweep_folder.is_sweep_folder(folder):
        return None
    summary = sweep_summary(folder)
    run_dir = sweep_folder.trial_run_dir(folder, summary["best_run_dir"])
    if summary["best_trial"] is None or run_dir is None:
        raise ConfigError(
            f"the sweep in {folder} has no complete trial yet: there is no best trial to compare"
        )
    if not (run_dir / run_files.CONFIG_FILE).is_file():
        raise ConfigError(
            f"the best trial ({summary['best_trial']}) of the sweep in {folder} has no run folder at "
            f"{run_dir}: was it moved or deleted?"
        )
    return {**summary, "run_dir": run_dir}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def runs_table(runs: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    metric_names: list[str] = []
    test_names: list[str] = []
    for run in runs:
        metric_names += [m for m in run["final_val_metrics"] if m not in metric_names]
        test_names += [m for m in run.get("test_metrics", {}) if m not in test_names]
    tested = any("test_loss" in run for run in runs)
    test_columns = ["test_loss", *(f"test_{m}" for m in test_names)] if tested else []
    table = Table(title=title)
    columns = ("experiment", "run", "date", "status", "val_loss", *(f"val_{m}" for m in metric_names))
    for column in (*columns, *test_columns):
        table.add_column(column, justify="right" if column.startswith(("val_", "test_")) else "left")
    table.add_column("folder", overflow="fold")
    for run in runs:
        status = run["status"] if run["status"] == COMPLETED else f"[yellow]{run['status']}[/yellow]"
        table.add_row(
            run["experiment"],
            run["id"],
            run["date"],
            status,
            _fmt(run["final_val_loss"]),
            *(_fmt(run["final_val_metrics"].get(m)) for m in metric_names),
            *(
                [_fmt(run.get("test_loss")), *(_fmt(run.get("test_metrics", {}).get(m)) for m in test_names)]
                if tested
                else []
            ),
            run["folder"],
        )
    return table


# -- compare ------------------------------------------------------------------------------
def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Config keys whose values differ, and the final metrics of both with ``delta = B - A``."""
    from aiforge.config.loading import read_config_file

    configs = [flatten(read_config_file(run / run_files.CONFIG_FILE)) for run in (run_a, run_b)]
    keys = list(configs[0]) + [k for k in configs[1] if k not in configs[0]]
    config_diff = [
        {"key": key, "a": configs[0].get(key, ABSENT), "b": configs[1].get(key, ABSENT)}
        for key in keys
        if configs[0].get(key, ABSENT) != configs[1].get(key, ABSENT)
    ]

    summaries = [run_summary(run) for run in (run_a, run_b)]
    values = [
        {"val_loss": s["final_val_loss"], **{f"val_{k}": v for k, v in s["final_val_metrics"].items()}}
        for s in summaries
    ]
    names = list(values[0]) + [k for k in values[1] if k not in values[0]]
    metrics = []
    for name in names:
        a, b = values[0].get(name), values[1].get(name)
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        metrics.append({"name": name, "a": a, "b": b, "delta": b - a if numbers else None})
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "status": {"a": summaries[0]["status"], "b": summaries[1]["status"]},
        "config": config_diff,
        "metrics": metrics,
    }


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def compare_tables(result: dict[str, Any]) -> list[Any]:
    """What ``aiforge compare`` shows: the config differences (or a note) and the metric table."""
    from rich.table import Table

    shown: list[Any] = []
    if result["config"]:
        config = Table(title="Config differences")
        for column in ("key", "A", "B"):
            config.add_column(column, overflow="fold")
        for row in result["config"]:
            config.add_row(row["key"], _show(row["a"]), _show(row["b"]))
        shown.append(config)
    else:
        shown.append("The configs are identical.")
    metrics = Table(title="Final validation metrics")
    for column in ("metric", "A", "B", "delta (B - A)"):
        metrics.add_column(column, justify="left" if column == "metric" else "right")
    for row in result["metrics"]:
        delta = "-" if row["delta"] is None else f"{row['delta']:+.4f}"
        metrics.add_row(row["name"], _fmt(row["a"]), _fmt(row["b"]), delta)
    shown.append(metrics)
    return shown
