"""benchmarks/startup_phases.py splits a real run's time into phases; startup.py's run targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_the_phases_of_a_tiny_run_add_up_to_its_time(tmp_path: Path) -> None:
    out = tmp_path / "phases.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIFORGE_", "MLFLOW_"))}
    env["AIFORGE_TRACKING"] = "false"
    argv = [sys.executable, str(BENCHMARKS / "startup_phases.py"), "--json", str(out), "--"]
    argv += ["run", "-o", "training_config.epochs=2", "-q"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Run finished" in done.stdout  # the run itself, summary included
    phases = json.loads(out.read_text())
    parts = ("config", "data", "model", "metrics_setup", "first_epoch", "other_epochs", "finish")
    assert all(phases[name] > 0 for name in parts), phases
    assert phases["tracking_end"] >= 0  # no tracker: nothing to end
    covered = sum(phases[name] for name in (*parts, "tracking_end", "run_other"))
    assert covered == pytest.approx(phases["total"], rel=0.05)


def test_training_time_is_the_epochs_at_the_pace_of_the_later_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import startup

    phases = {"first_epoch": 5.0, "other_epochs": 0.25}
    assert startup.training_s(phases) == pytest.approx(0.5)  # 2 epochs x 0.25 s: the first's 5 s is start-up
    fake = {
        "torch_import": {"median_s": 4.0},
        "run_off": {"median_s": 6.4, "phases_s": phases},
        "run_mlflow": {"median_s": 8.5},
    }
    assert startup.meets_target("run_off", fake["run_off"], fake) is True  # 6.4 <= 1.5 x 4 + 0.5
    assert startup.meets_target("run_mlflow", fake["run_mlflow"], fake) is False  # 8.5 > 6.4 + 2
    fake["run_off"]["median_s"] = 6.6
    assert startup.meets_target("run_off", fake["run_off"], fake) is False
