"""The worked example of docs/configuration.md's "Objects from the config" section runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Objects from the config: class_path and init_args"

pytestmark = pytest.mark.slow


def block(kind: str) -> str:
    """The first ```kind block of the section."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    after = text[text.index(HEADING) :]
    match = re.search(rf"```{kind}\n(.*?)```", after, re.S)
    assert match, f"no {kind} block under {HEADING!r}"
    return match.group(1)


def test_the_objects_from_the_config_example_runs(tmp_path: Path) -> None:
    (tmp_path / "my_callbacks.py").write_text(block("python"))
    (tmp_path / "objects.yaml").write_text(block("yaml"))
    env = {**os.environ, "AIFORGE_TRACKING": "false", "PYTHONPATH": "."}
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", "run", "objects.yaml", "-o", "training_config.epochs=2"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^digits epoch 1: val_loss \d", result.stdout, re.M), result.stdout
    assert re.search(r"^digits epoch 2: val_loss \d", result.stdout, re.M), result.stdout
    # The same file under --no-imports: the dotted callback is refused, naming the key.
    refused = subprocess.run(
        [*command[:4], "--no-imports", "objects.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stderr
    assert "callbacks.0.class_path" in refused.stderr and "--no-imports" in refused.stderr
