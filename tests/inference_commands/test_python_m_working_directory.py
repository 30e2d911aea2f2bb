"""``python -m aiforge`` imports nothing from the working directory, like the ``aiforge`` script.

``python -m`` puts the working directory first on ``sys.path``; the installed console script
does not (its ``sys.path[0]`` is its bin folder). The modules here write a marker file when
imported, so the tests see whether AIForge picked them up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).parent / "aiforge"
MARKER = "module_from_the_working_directory_was_imported"


def _marker_module(folder: Path, file_name: str) -> None:
    (folder / file_name).write_text(
        f"from pathlib import Path\n\n(Path(__file__).resolve().parent / {MARKER!r}).write_text('x')\n",
        encoding="utf-8",
    )


def _aiforge(*args: str, cwd: Path, module: bool = True, pythonpath: str | None = None):
    command = [sys.executable, "-m", "aiforge", *args] if module else [str(SCRIPT), *args]
    env = {**os.environ, "AIFORGE_TRACKING": "false", "AIFORGE_LOG_LEVEL": "WARNING"}
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_module_imported_late_is_not_taken_from_the_working_directory(iris_run, tmp_path):
    # Regression: the working directory was off sys.path only while the run folder's plugins
    # were resolved; `evaluate` imports torchmetrics after that, and took ./torchmetrics.py.
    _marker_module(tmp_path, "torchmetrics.py")
    result = _aiforge("evaluate", str(iris_run), "--json", cwd=tmp_path)
    assert not (tmp_path / MARKER).exists(), result.stderr
    assert result.returncode == 0, result.stderr


def _new_run_config(folder: Path) -> Path:
    package = folder / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "model.py").write_text("from aiforge.plugins.simple_nn.model import Model\n", encoding="utf-8")
    config = {
        "experiment_name": "dotted_new_run",
        "model_plugin": "mypkg.model",
        "dataset_plugin": "iris",
        "model_config": {"hidden_dim": 8},
        "training_config": {"epochs": 1, "batch_size": 32},
    }
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.skipif(not SCRIPT.is_file(), reason="the aiforge console script is not installed")
def test_python_m_and_the_console_script_agree_on_a_package_in_the_working_directory(tmp_path):
    """A new run naming ./mypkg by dotted path: the same outcome with either command."""
    _new_run_config(tmp_path)
    args = ("run", "exp.yaml", "--results-dir", "results", "-q")
    by_module = _aiforge(*args, cwd=tmp_path)
    by_script = _aiforge(*args, cwd=tmp_path, module=False)
    assert by_module.returncode == by_script.returncode == 2, by_module.stderr + by_script.stderr
    for result in (by_module, by_script):
        assert "unknown plugin 'mypkg.model'" in result.stderr
        assert "PYTHONPATH" in result.stderr  # what to do: the working directory is not searched
    assert not (tmp_path / "results").exists()


def test_pythonpath_makes_a_package_in_the_working_directory_importable(tmp_path):
    _new_run_config(tmp_path)
    result = _aiforge("run", "exp.yaml", "--results-dir", "results", "-q", cwd=tmp_path, pythonpath=".")
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("results/dotted_new_run/*/final_model.pt"))
