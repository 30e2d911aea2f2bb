"""What a sweep folder (``RESULTS_DIR/<experiment>/sweeps/<study>/``) holds, and reading it back:
the file names every reader and writer of a sweep's records shares."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SWEEPS_DIR = "sweeps"
TRIALS_FILE = "trials.csv"
RESULTS_FILE = "sweep_results.json"
CONFIG_FILE = "sweep_config.yaml"
REPORT_FILE = "report.html"


def is_sweep_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder ``aiforge sweep`` made (its config or its results are there)."""
    folder = Path(path)
    return folder.is_dir() and any((folder / name).is_file() for name in (CONFIG_FILE, RESULTS_FILE))


def sweep_folders(experiment_dir: Path) -> list[Path]:
    """The sweep folders of one experiment folder, by name."""
    root = Path(experiment_dir) / SWEEPS_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_sweep_folder(p))


def read_results(folder: Path) -> dict[str, Any]:
    """``sweep_results.json``; ``{}`` when it is missing or unreadable (no trial has finished yet)."""
    try:
        data = json.loads((Path(folder) / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_trials(folder: Path) -> list[dict[str, str]]:
    """The rows of ``trials.csv`` as text; ``[]`` when it is missing."""
    try:
        with (Path(folder) / TRIALS_FILE).open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def trial_run_dir(folder: Path, run_dir: str | None) -> Path | None:
    """A trial's run folder as recorded, else the folder of that name beside the sweeps (the results
    folder was moved); None when nothing was recorded."""
    if not run_dir:
        return None
    recorded = Path(run_dir)
    if recorded.is_dir():
        return recorded
    moved = Path(folder).parent.parent / recorded.name
    return moved if moved.is_dir() else recorded
