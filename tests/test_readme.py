"""The documented plugin tutorial works as written: its files are extracted and run.

The examples live in README.md and the docs/ pages; every fenced block headed by a file name
under my_plugins/ is collected from all of them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cli_runner import run_aiforge

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(?:python|yaml)\n# (my_plugins/\S+)\n(.*?)```", re.S)

pytestmark = pytest.mark.slow


def tutorial_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for doc in DOC_FILES:
        for path, body in FENCE.findall(doc.read_text(encoding="utf-8")):
            assert path not in files, f"{path} is written out twice (again in {doc.name})"
            files[path] = body
    return files


def test_readme_has_the_tutorial_files():
    assert set(tutorial_files()) == {
        "my_plugins/tiny_mlp/model.py",
        "my_plugins/tiny_mlp/dataset.py",
        "my_plugins/tiny.yaml",
    }


def test_readme_plugin_tutorial_runs(tmp_path):
    for relative, body in tutorial_files().items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    (tmp_path / "my_plugins" / "tiny_mlp" / "__init__.py").write_text("")
    env = {"AIFORGE_PLUGINS_DIR": str(tmp_path / "my_plugins")}

    def aiforge(*args: str) -> subprocess.CompletedProcess:
        return run_aiforge(tmp_path, *args, env=env, timeout=300)

    listing = aiforge("plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    tiny = next(row for row in json.loads(listing.stdout) if row["name"] == "tiny_mlp")
    assert tiny["source"].startswith("folder") and "width" in tiny["config_fields"]
    run = aiforge("run", "my_plugins/tiny.yaml")
    assert run.returncode == 0, run.stderr
    (results,) = tmp_path.glob("results/tiny_moons/*/final_results.json")
    assert json.loads(results.read_text())["final_val_metrics"]["accuracy"] > 0.8
