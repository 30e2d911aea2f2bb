"""``aiforge runs`` (the runs in the results folder) and ``aiforge compare`` (two runs side by side)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError, did_you_mean
from aiforge.inference_commands.loading import read_json
from aiforge.mappings import flatten  # config keys as dotted names (``training_config.learning_rate``)
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
    results_dir = Path(results_dir)
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
    runs = [run_summary(run) for exp in experiments for run in sorted(exp.iterdir()) if _is_run_dir(run)]
    return sorted(runs, key=lambda r: (r["started"], r["id"]), reverse=True)


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
