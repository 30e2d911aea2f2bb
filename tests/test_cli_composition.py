"""End-to-end: `aiforge run` on a config with ``base:`` and ``${...}``; its saved config is resolved,
and a run folder whose config.yaml names a base is refused on resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def aiforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_composed_config_runs_and_saves_its_resolved_config(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    common = {
        "model_plugin": "simple_nn",
        "dataset_plugin": "digits",
        "seed": 3,
        "model_config": {"hidden_dim": 16},
        "training_config": {"epochs": 1, "batch_size": 32, "learning_rate": 0.01},
        "metrics": ["accuracy"],
    }
    (tmp_path / "configs" / "common.yaml").write_text(yaml.safe_dump(common), encoding="utf-8")
    experiment = {
        "base": ["common.yaml"],
        "experiment_name": "digits_${seed}",
        "model_config": {"hidden_dim": "${training_config.batch_size}"},
    }
    (tmp_path / "configs" / "exp.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")

    result = aiforge("run", "configs/exp.yaml", "-o", "training_config.batch_size=24", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = [p for p in (tmp_path / "results" / "digits_3").iterdir() if p.is_dir()]
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    saved = yaml.safe_load(text)
    assert "${" not in text and "base" not in saved
    assert saved["model_config"]["hidden_dim"] == 24  # the override flowed into the reference
    assert saved["experiment_name"] == "digits_3"

    # A tampered, unfinished run folder: its config names a base file. Resuming refuses to follow it.
    (run_dir / "final_results.json").unlink()
    saved["base"] = str(tmp_path / "configs" / "common.yaml")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    result = aiforge("run", "--resume", str(run_dir), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "run folder is data" in result.stderr
    assert "base" in result.stderr
