"""Tiny sweep files and a way to run ``aiforge sweep`` on them in a subprocess."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path
from typing import Any

import yaml

from cli_runner import run_aiforge
from plugin_builders import tiny_experiment

SPACE = {
    "training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
    "model_config.hidden_dim": {"type": "int", "low": 4, "high": 12, "step": 4},
}


def sweep_file(folder: Path, name: str = "tiny_sweep", **sweep: Any) -> Path:
    """The tiny experiment's file with a sweep: section (``sweep`` entries replace the defaults)."""
    data = tiny_experiment(name)
    data["sweep"] = {"trials": 3, "space": SPACE, **sweep}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def aiforge(cwd: Path, *args: str, **options: Any) -> subprocess.CompletedProcess:
    return run_aiforge(cwd, *args, env={"AIFORGE_TRACKING": "false"}, **options)


def trial_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def finished_rows(sweep_dir: Path) -> list[dict[str, str]]:
    return [row for row in trial_rows(sweep_dir) if row["state"] in ("COMPLETE", "PRUNED")]
