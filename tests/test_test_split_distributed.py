"""The held-out test split under torchrun (gloo, CPU): each rank scores its share of the test rows
and the sums are all-reduced, as validation is, so the numbers equal one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

CONFIG = {
    "experiment_name": "ddp_test_split",
    "model_plugin": "simple_nn",
    "dataset_plugin": "simple_nn",
    "dataset_args": {"num_samples": 400, "input_dim": 8, "num_classes": 3, "seed": 1},
    "model_config": {"hidden_dim": 16, "dropout_rate": 0.0},
    "seed": 5,
    "test_fraction": 0.2,
    "training_config": {"epochs": 1, "batch_size": 16, "learning_rate": 0.01},
    "tracking": {"enabled": False},
}


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC")}
    env.update(AIFORGE_TRACKING="false", OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)


def _only_run(results: Path) -> Path:
    (run_dir,) = [p for p in results.glob("*/*") if p.is_dir()]
    return run_dir


def test_two_processes_score_the_test_rows_like_one(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(CONFIG))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = _run(
        [*launcher, "-m", "aiforge", "run", "exp.yaml", "--results-dir", "two", "--no-progress"], tmp_path
    )
    assert two.returncode == 0, two.stderr[-4000:]
    single = [sys.executable, "-m", "aiforge", "run", "exp.yaml", "--results-dir", "one", "--no-progress"]
    one = _run([*single, "-o", "training_config.batch_size=32"], tmp_path)
    assert one.returncode == 0, one.stderr[-4000:]
    two_run, one_run = _only_run(tmp_path / "two"), _only_run(tmp_path / "one")
    a = json.loads((two_run / "final_results.json").read_text())
    b = json.loads((one_run / "final_results.json").read_text())
    assert a["test_samples"] == b["test_samples"] == 80
    assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)
    assert a["test_metrics"] == pytest.approx(b["test_metrics"], abs=1e-6)
    done = _run(
        [sys.executable, "-m", "aiforge", "evaluate", str(two_run), "--split", "test", "--json"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout)
    assert evaluated["samples"] == 80
    assert evaluated["loss"] == pytest.approx(a["test_loss"], rel=1e-5)
    assert evaluated["metrics"] == pytest.approx(a["test_metrics"], abs=1e-6)
