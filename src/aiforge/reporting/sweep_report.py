"""A sweep's ``report.html``: one self-contained page with the best trial, the pictures, every trial
(linked to its run's report) and the sweep config, built from the sweep folder's files alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiforge.reporting import report as page
from aiforge.reporting import sweep_folder
from aiforge.reporting.sweep_plots import PICTURES
from aiforge.runs import files as run_files


def build_sweep_report(folder: str | Path, notes: list[str] | None = None) -> Path:
    """Write ``report.html`` into the sweep folder (atomically) and return its path. ``notes``: what
    the page should say was left out (pictures skipped or failed)."""
    folder = Path(folder)
    path = folder / sweep_folder.REPORT_FILE
    run_files.write_text(path, sweep_page(folder, list(notes or [])))
    return path


def sweep_page(folder: Path, notes: list[str]) -> str:
    results = sweep_folder.read_results(folder)
    trials = sweep_folder.read_trials(folder)
    config_path = folder / sweep_folder.CONFIG_FILE
    config_text = config_path.read_text(encoding="utf-8") if config_path.is_file() else ""
    if not results:
        notes.append(f"{sweep_folder.RESULTS_FILE} is missing or unreadable: no trial has finished yet.")
    name = results.get("study_name") or folder.name
    sections = [
        f"<h1>Sweep {page._e(name)}</h1>",
        f'<p class="muted">Sweep folder <code>{page._e(folder)}</code></p>',
        page._notes(notes),
        "<h2>Results</h2>",
        _summary(results),
        "<h2>Best trial</h2>",
        _best(folder, results),
        "<h2>Pictures</h2>",
        page._figures(folder, PICTURES) or page._missing("No pictures were drawn (see the notes above)."),
        "<h2>Trials</h2>",
        _trials_table(folder, trials, results.get("best_trial")),
        "<h2>Sweep configuration</h2>",
        f"<pre>{page._e(config_text)}</pre>"
        if config_text
        else page._missing("sweep_config.yaml is missing."),
        f'<p class="muted">Made by AIForge at {page._now()}. '
        "Rebuild: <code>aiforge report SWEEP_DIR</code>.</p>",
    ]
    body = "\n".join(part for part in sections if part)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>AIForge sweep report: {page._e(name)}</title>\n<style>{page._CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _summary(results: dict[str, Any]) -> str:
    if not results:
        return page._missing("No results yet.")
    rows = {
        "metric": f"{results.get('metric')} ({results.get('direction')})",
        "trials requested": results.get("trials_requested"),
        "complete": results.get("trials_complete"),
        "pruned": results.get("trials_pruned"),
        "failed": results.get("trials_failed"),
        "best trial": results.get("best_trial"),
        "best value": results.get("best_value"),
    }
    return page._key_value_table(rows, "summary")


def _best(folder: Path, results: dict[str, Any]) -> str:
    if results.get("best_trial") is None:
        return page._missing("No complete trial yet.")
    params = page._key_value_table(dict(results.get("best_params") or {}))
    scores = {
        "final_val_loss": results.get("best_val_loss"),
        "final_val_metrics": results.get("best_val_metrics"),
    }
    if "best_test_loss" in results:  # held out: the choice never looked at it
        scores.update(test_loss=results["best_test_loss"], test_metrics=results.get("best_test_metrics"))
    run_dir = sweep_folder.trial_run_dir(folder, results.get("best_run_dir"))
    link = f"<p>Run folder: {_run_link(folder, run_dir)}</p>" if run_dir is not None else ""
    return f"{params}{page._final_metrics(scores)}{link}"


def _trials_table(folder: Path, trials: list[dict[str, str]], best: Any) -> str:
    if not trials:
        return page._missing(f"{sweep_folder.TRIALS_FILE} has no rows yet.")
    columns = [c for c in trials[0] if c != "run_dir"]
    header = "".join(f"<th>{page._e(c)}</th>" for c in (*columns, "run"))
    rows = []
    for row in trials:
        mark = (
            ' class="best" title="best trial"' if best is not None and row.get("trial") == str(best) else ""
        )
        cells = "".join(f"<td>{page._e(row.get(c, ''))}</td>" for c in columns)
        run_dir = sweep_folder.trial_run_dir(folder, row.get("run_dir"))
        link = _run_link(folder, run_dir) if run_dir is not None else "-"
        rows.append(f"<tr{mark}>{cells}<td>{link}</td></tr>")
    return f'<table class="history"><tr>{header}</tr>{"".join(rows)}</table>'


def _run_link(folder: Path, run_dir: Path) -> str:
    """A relative link to the run's report (or its folder, before the report exists)."""
    report = run_dir / sweep_folder.REPORT_FILE
    target = report if report.is_file() else run_dir
    href = Path(os.path.relpath(target, folder)).as_posix()
    return f'<a href="{page._e(href)}">{page._e(run_dir.name)}</a>'
