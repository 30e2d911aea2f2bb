"""``report.html``: one self-contained page per run with its results, curves, config and environment."""

from __future__ import annotations

import base64
import html
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.reporting import plots
from aiforge.reporting.misclassified import MISCLASSIFIED_FILE
from aiforge.runs import files as run_files

if TYPE_CHECKING:
    from aiforge.runs.lock import RunLock

REPORT_FILE = "report.html"
REQUIRED_FILES = (run_files.CONFIG_FILE, run_files.HISTORY_FILE)

_CURVES = ((plots.LOSS_CURVES_FILE, "Loss per epoch"), (plots.METRIC_CURVES_FILE, "Validation metrics"))
_PREDICTION_PLOTS = (
    (plots.CONFUSION_MATRIX_FILE, "Confusion matrix"),
    (plots.PRED_VS_TRUE_FILE, "Predicted vs true"),
    (plots.RESIDUALS_FILE, "Residuals"),
    (MISCLASSIFIED_FILE, "Misclassified validation images"),
)


def check_run_dir(run_dir: str | Path) -> Path:
    """The run folder, resolved; a :class:`DataError` when it is missing or not a run folder."""
    found = run_files.find_run_dir(run_dir, need=REQUIRED_FILES)
    path = found.given
    expected = "a folder results/<experiment>/<timestamp>-<id>/ made by `aiforge run`"
    if found.problem == "missing":
        raise DataError(f"no run folder at {path} (expected {expected})")
    if found.problem == "file":
        raise DataError(f"{path} is a file, not a run folder (expected {expected})")
    if found.problem == "lacks":
        raise DataError(
            f"{path} is not an AIForge run folder: it has no {' and no '.join(found.missing)} "
            f"(expected {expected})"
        )
    return found.path


def build_report(run_dir: str | Path, redraw: bool = False, lock: RunLock | None = None) -> Path:
    """Write ``report.html`` into the run folder and return its path.

    Plots missing from the folder are drawn first from ``metrics.csv`` and
    ``val_predictions.csv``; ``redraw`` draws all of them again. Parts of the run that are
    missing (a run that did not finish) are left out with a note. ``lock``: the folder's lock
    when the caller holds it (a run writing its own report); without it, the report takes the
    lock for itself.

    Raises:
        DataError: ``run_dir`` is not a run folder.
        RunFolderInUse: another writer (a run, another report) holds the folder, in this
            process or another.
    """
    from aiforge.runs.lock import acquire_run_lock

    checked = check_run_dir(run_dir)
    if lock is not None and lock.folder != checked:
        raise ValueError(f"build_report({checked}) was handed the lock of another folder, {lock.folder}")
    with nullcontext() if lock is not None else acquire_run_lock(checked, "aiforge report"):
        run = _read_run(checked)
        try:
            plots.write_run_plots(run.dir, overwrite=redraw)
        except ImportError as err:
            run.notes.append(f"No plots: {err}.")
        except (OSError, ValueError) as err:
            run.notes.append(f"Some plots could not be drawn: {err}")
        page = _page(run)
        path = run.dir / REPORT_FILE
        run_files.write_text(path, page)
    return path


# -- what the run folder holds ---------------------------------------------------------------
@dataclass
class _Run:
    dir: Path
    config_text: str
    config: dict[str, Any]
    history: list[dict[str, float]]
    results: dict[str, Any]
    environment: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(
            self.results.get("experiment_name") or self.config.get("experiment_name") or self.dir.parent.name
        )


def _read_run(run_dir: Path) -> _Run:
    import yaml

    notes = []
    config_text = (run_dir / run_files.CONFIG_FILE).read_text(encoding="utf-8")
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError as err:
        config, notes = {}, [f"{run_files.CONFIG_FILE} is not valid YAML: {err}"]
    run = _Run(
        dir=run_dir,
        config_text=config_text,
        config=config if isinstance(config, dict) else {},
        history=plots.read_history(run_dir / run_files.HISTORY_FILE),
        results=plots.read_json(run_dir / run_files.RESULTS_FILE),
        environment=plots.read_json(run_dir / run_files.ENVIRONMENT_FILE),
        notes=notes,
    )
    for name, data in ((run_files.RESULTS_FILE, run.results), (run_files.ENVIRONMENT_FILE, run.environment)):
        if not data:
            run.notes.append(f"{name} is missing or unreadable: its part of the report is left out.")
    return run


def _best_epoch(run: _Run) -> tuple[int | None, str, Any, str]:
    """Best epoch, monitor, its value, and where they come from (final_results.json, else metrics.csv)."""
    if run.results:
        monitor = run.results.get("monitor") or "val_loss"
        return run.results.get("best_epoch"), monitor, run.results.get("best_monitor_value"), ""
    training = run.config.get("training_config") or {}
    monitor = training.get("early_stopping_monitor") or "val_loss"
    pick = max if training.get("early_stopping_mode") == "max" else min
    scored = [
        (row[monitor], int(row.get("epoch", index + 1)))
        for index, row in enumerate(run.history)
        if math.isfinite(row.get(monitor, math.nan))
    ]
    if not scored:
        return None, monitor, None, " (no finite value in metrics.csv)"
    value, epoch = pick(scored, key=lambda pair: pair[0])
    return epoch, monitor, value, " (from metrics.csv: the run did not finish)"


# -- the page --------------------------------------------------------------------------------
def _page(run: _Run) -> str:
    best_epoch, monitor, best_value, source = _best_epoch(run)
    title = f"{run.name} — {run.dir.name}"
    sections = [
        f"<h1>{_e(run.name)}</h1>",
        f'<p class="muted">Run folder <code>{_e(run.dir)}</code></p>',
        _notes(run.notes),
        "<h2>Results</h2>",
        _summary(run, best_epoch, monitor, best_value, source),
        _final_metrics(run.results),
        "<h2>Curves</h2>",
        _figures(run.dir, _CURVES) or _missing("No curves: metrics.csv has no loss or metric column."),
        "<h2>Validation predictions</h2>",
        _figures(run.dir, _PREDICTION_PLOTS) or _missing(f"No {plots.PREDICTIONS_FILE} in the run folder."),
        "<h2>Metrics per epoch</h2>",
        _history_table(run.history, best_epoch),
        "<h2>Configuration</h2>",
        f"<pre>{_e(run.config_text)}</pre>",
        "<h2>Environment</h2>",
        _key_value_table(dict(_flatten(run.environment))) if run.environment else _missing("Not recorded."),
        f'<p class="muted">Made by AIForge at {_now()}. Rebuild: <code>aiforge report RUN_DIR</code>.</p>',
    ]
    body = "\n".join(part for part in sections if part)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>AIForge report: {_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _summary(run: _Run, best_epoch: int | None, monitor: str, best_value: Any, source: str) -> str:
    results = run.results
    rows: dict[str, Any] = {
        "best epoch": f"{best_epoch if best_epoch is not None else '-'}{source}",
        "monitor": f"{monitor} = {_fmt(best_value)}" if best_value is not None else monitor,
        "task": results.get("task"),
        "epochs completed": results.get("epochs_completed", len(run.history)),
        "stopped early": results.get("stopped_early"),
        "training rows": results.get("train_samples"),
        "validation rows": results.get("val_samples"),
        "test rows": results.get("test_samples"),
        "parameters": results.get("num_parameters"),
        "duration (s)": results.get("duration_seconds"),
    }
    return _key_value_table({key: value for key, value in rows.items() if value is not None}, "summary")


def _final_metrics(results: dict[str, Any]) -> str:
    if not results:
        return _missing("No final metrics: final_results.json is missing (see the last epoch below).")
    metrics = {"loss": results.get("final_val_loss"), **(results.get("final_val_metrics") or {})}
    if "test_loss" in results:  # a held-out test split, scored once on the best model
        test = {"loss": results.get("test_loss"), **(results.get("test_metrics") or {})}
        header = "<tr><th>final metric</th><th>validation</th><th>test (held out)</th></tr>"
        body = "".join(
            f"<tr><td>{_e(name)}</td><td>{_e(_fmt(value))}</td><td>{_e(_fmt(test.get(name)))}</td></tr>"
            for name, value in metrics.items()
        )
        return f'<table class="final">{header}{body}</table>'
    header = "<tr><th>final validation metric</th><th>value</th></tr>"
    body = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(_fmt(value))}</td></tr>" for name, value in metrics.items()
    )
    return f'<table class="final">{header}{body}</table>'


def _history_table(history: list[dict[str, float]], best_epoch: int | None) -> str:
    if not history:
        return _missing("metrics.csv has no rows yet.")
    columns = list(dict.fromkeys(key for row in history for key in row))
    header = "".join(f"<th>{_e(column)}</th>" for column in columns)
    rows = []
    for index, row in enumerate(history):
        epoch = row.get("epoch", index + 1)
        best = ' class="best" title="best epoch"' if best_epoch is not None and epoch == best_epoch else ""
        cells = "".join(
            f"<td>{_e(_fmt(int(row[c]) if c == 'epoch' and math.isfinite(row[c]) else row.get(c)))}</td>"
            for c in columns
        )
        rows.append(f"<tr{best}>{cells}</tr>")
    return f'<table class="history"><tr>{header}</tr>{"".join(rows)}</table>'


def _figures(run_dir: Path, images: tuple[tuple[str, str], ...]) -> str:
    figures = []
    for name, caption in images:
        path = run_dir / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            figures.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>"
            )
    return f'<div class="figures">{"".join(figures)}</div>' if figures else ""


def _key_value_table(rows: dict[str, Any], css_class: str = "pairs") -> str:
    body = "".join(f"<tr><th>{_e(key)}</th><td>{_e(_fmt(value))}</td></tr>" for key, value in rows.items())
    return f'<table class="{css_class}">{body}</table>'


def _notes(notes: list[str]) -> str:
    return f'<ul class="notes">{"".join(f"<li>{_e(note)}</li>" for note in notes)}</ul>' if notes else ""


def _missing(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'


def _flatten(data: dict[str, Any]) -> Any:
    """Nested keys as dotted names (``packages.torch``), as (name, value) pairs."""
    from aiforge.mappings import flatten

    return flatten(data).items()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isfinite(value) and value != 0 and not 1e-3 <= abs(value) < 1e5:
            return f"{value:.4e}"
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; }
.muted { color: #656d76; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f6f8fa; }
table.history td { text-align: right; }
tr.best td { background: #dafbe1; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; flex: 1 1 420px; max-width: 640px; }
figure img { width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #656d76; font-size: 0.9rem; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; border: 1px solid #d0d7de; }
ul.notes { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.6rem 1.6rem; }
"""
