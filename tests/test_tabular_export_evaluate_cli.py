"""Tabular runs through the real command line: export of an all-number run, evaluate on another file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


def aiforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AIFORGE_")}
    env["AIFORGE_TRACKING"] = "false"
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_export_of_an_all_number_tabular_run(tmp_path: Path) -> None:
    result = aiforge(
        "run", "--example", "tabular_csv", "-o", "training_config.epochs=1", "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "results" / "tabular_csv").iterdir())
    result = aiforge("export", str(run_dir), "--output", str(tmp_path / "model.pt"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    from aiforge.config.settings import AppSettings
    from aiforge.inference_commands.loading import load_run

    settings = AppSettings(RESULTS_DIR=tmp_path / "r", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
    loaded = load_run(run_dir, settings, device="cpu")
    eager = loaded.orchestrator.inference_model().eval()
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    width = len(loaded.orchestrator.dataset.feature_names)  # all numbers: one input column each
    for count in (5, 7):
        rows = torch.randn(count, width)
        with torch.no_grad():
            torch.testing.assert_close(scripted(rows), eager(rows))


@pytest.fixture(scope="module")
def id_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(60)],
            "x": x,
            "color": rng.choice(["red", "blue"], size=60),
            "y": np.where(x > 0, "yes", "no"),
        }
    )
    frame.to_csv(folder / "train.csv", index=False)
    config = {
        "experiment_name": "ids",
        "model_plugin": "simple_nn",
        "dataset_plugin": "tabular",
        "data_path": str(folder / "train.csv"),
        "dataset_args": {"target_column": "y"},
        "training_config": {"epochs": 1, "batch_size": 16},
    }
    (folder / "exp.yaml").write_text(yaml.safe_dump(config))
    result = aiforge("run", "exp.yaml", "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return next((folder / "results" / "ids").iterdir())


def test_evaluate_other_data_matches_columns_by_name(id_run: Path, tmp_path: Path) -> None:
    train = pd.read_csv(id_run.parents[2] / "train.csv")
    other = train[["y", "color", "x"]]  # another order, and no ignored customer_id
    other.to_csv(tmp_path / "other.csv", index=False)
    result = aiforge("evaluate", str(id_run), "--data", str(tmp_path / "other.csv"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
