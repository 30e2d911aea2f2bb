"""The worked example of docs/configuration.md's "LR schedules" section runs as written."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def section_yaml(page: str, heading: str) -> str:
    """The first ```yaml block after ``heading`` on a docs page."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(.*?)```", text[text.index(heading) :], re.S)
    assert match, f"no yaml block under {heading!r} in {page}"
    return match.group(1)


@pytest.mark.slow
def test_the_warmup_cosine_example_runs(tmp_path: Path) -> None:
    example = section_yaml("configuration.md", "## LR schedules")
    scheduler = yaml.safe_load(example)["training_config"]["scheduler"]
    assert scheduler["interval"] == "step" and "warmup_ratio" in scheduler
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "aiforge", "run", str(path), "--results-dir", str(results), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in results.glob("*/*") if p.is_dir()]
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    lrs = [float(row["lr"]) for row in rows]
    assert len(rows) == 3 and 0 < lrs[1] < lrs[0] < 0.003 and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())["training_config"]["scheduler"]
    assert saved == {**scheduler, "args": {}, "monitor": "val_loss"}
