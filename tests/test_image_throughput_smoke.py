"""benchmarks/image_throughput.py runs end to end and reports every column with its ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "image_throughput.py"


def test_quick_run_reports_all_three_loops(tmp_path):
    out = tmp_path / "images.json"
    args = [
        "--quick",
        "--images",
        "40",
        "--size",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--json",
        str(out),
    ]
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    measured = json.loads(out.read_text())["results"]
    assert set(measured) == {"hand_lazy", "aiforge_lazy", "aiforge_cached"}
    for row in measured.values():
        assert row["images_per_s"] > 0 and len(row["epoch_times_s"]) == 1
    assert measured["hand_lazy"]["ratio_to_hand_lazy"] == 1.0
    assert "| aiforge_cached |" in result.stdout
