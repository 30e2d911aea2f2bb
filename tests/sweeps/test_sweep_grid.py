"""A grid sweep that asks for every point of its grid runs each point once and ends normally."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from aiforge.config.settings import AppSettings
from aiforge.sweeps import Sweep
from plugin_builders import tiny_experiment

pytestmark = pytest.mark.slow


def test_a_grid_sweep_covers_its_whole_grid_and_finishes(tmp_path: Path) -> None:
    widths = [4, 8, 12]
    sweep = {
        "sampler": "grid",
        "trials": len(widths),  # the whole grid: Optuna's GridSampler would stop the study here
        "space": {"model_config.hidden_dim": {"type": "categorical", "choices": widths}},
    }
    settings = AppSettings(
        RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING"
    )
    result = Sweep(tiny_experiment("grid_sweep"), sweep, settings=settings).run()

    assert result["trials_complete"] == len(widths)
    folder = tmp_path / "results" / "grid_sweep" / "sweeps" / "grid_sweep"
    saved = json.loads((folder / "sweep_results.json").read_text())
    assert saved["trials_complete"] == len(widths)
    with (folder / "trials.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["state"] == "COMPLETE"]
    assert sorted(int(row["model_config.hidden_dim"]) for row in rows) == widths  # each point once
