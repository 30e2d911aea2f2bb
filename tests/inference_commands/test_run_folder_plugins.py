"""A run folder is data: its config may not make AIForge import a dotted path without the opt-in.

The run here was trained with ``model_plugin: evilpkg.model``, a package in the working
directory whose import writes a marker file. ``python -m aiforge`` puts the working directory
first on ``sys.path``; the in-process tests do the same with ``syspath_prepend``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from trained_runs import quiet_settings

from aiforge.cli import main
from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.core.orchestrator import Orchestrator

PACKAGE = "evilpkg"
MARKER = "evilpkg_was_imported"
ZEN = "Beautiful is better than ugly"
FLAG = "--allow-dotted-plugins"


def _write_package(folder: Path) -> None:
    package = folder / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text(
        "from pathlib import Path\n\n"
        f"(Path(__file__).resolve().parent.parent / {MARKER!r}).write_text('imported')\n",
        encoding="utf-8",
    )
    (package / "model.py").write_text("from aiforge.plugins.simple_nn.model import Model\n", encoding="utf-8")


def _forget_package() -> None:
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(the working directory holding evilpkg/, a finished run whose model plugin is evilpkg.model)."""
    work = tmp_path_factory.mktemp("work")
    _write_package(work)
    sys.path.insert(0, str(work))
    try:
        config = ExperimentConfig(
            tracking={"enabled": False},
            experiment_name="dotted",
            model_plugin=f"{PACKAGE}.model",
            dataset_plugin="iris",
            model_config=SimpleNNConfig(hidden_dim=8),
            training_config=TrainingConfig(epochs=2, batch_size=32),
        )
        result = Orchestrator(config, settings=quiet_settings(work)).run_experiment()
    finally:
        sys.path.remove(str(work))
        _forget_package()
    return work, Path(result["run_dir"])


@pytest.fixture
def cwd(trained, monkeypatch) -> Iterator[Path]:
    """The working directory, first on sys.path as ``python -m`` puts it, with no marker yet."""
    work, _ = trained
    (work / MARKER).unlink(missing_ok=True)
    _forget_package()
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    yield work
    _forget_package()


def _copy(run_dir: Path, destination: Path, plugin: str | None = None, resumable: bool = False) -> Path:
    copy = destination / run_dir.name
    shutil.copytree(run_dir, copy)
    if plugin is not None:
        path = copy / "config.yaml"
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        config["model_plugin"] = plugin
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
    if resumable:  # as if the run had stopped after its last checkpoint
        (copy / "final_results.json").unlink()
        (copy / "final_model.pt").unlink()
    return copy


def _command(name: str, run_dir: Path, tmp_path: Path) -> list[str]:
    if name == "evaluate":
        return ["evaluate", str(run_dir), "--json"]
    if name == "predict":
        path = tmp_path / "rows.csv"
        header = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"
        path.write_text(f"{header}\n5.1,3.5,1.4,0.2\n", encoding="utf-8")
        return ["predict", str(run_dir), "--input", str(path), "--output", str(tmp_path / "out.csv")]
    if name == "export":
        return ["export", str(run_dir), "--output", str(tmp_path / "model.pt")]
    return ["run", "--resume", str(run_dir), "--results-dir", str(tmp_path / "results"), "-q"]


COMMANDS = ["evaluate", "predict", "export", "resume"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_dotted_plugin_in_the_working_directory_is_refused(command, trained, cwd, tmp_path, capsys):
    # Regression: `python -m aiforge evaluate R` imported ./evilpkg, which R/config.yaml named.
    run_dir = _copy(trained[1], tmp_path, resumable=command == "resume")
    assert main(_command(command, run_dir, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"'{PACKAGE}.model' is a dotted import path" in err and FLAG in err
    assert str(run_dir / "config.yaml") in err
    assert not (cwd / MARKER).exists()
    assert PACKAGE not in sys.modules


@pytest.mark.parametrize("command", COMMANDS)
def test_a_stdlib_dotted_path_is_not_imported(command, trained, cwd, tmp_path, capsys):
    # Regression: `model_plugin: this.x` printed the Zen of Python before failing.
    run_dir = _copy(trained[1], tmp_path, plugin="this.x", resumable=command == "resume")
    had_this = "this" in sys.modules
    assert main(_command(command, run_dir, tmp_path)) == 2
    out, err = capsys.readouterr()
    assert ZEN not in out and ZEN not in err
    assert "'this.x' is a dotted import path" in err and FLAG in err
    assert ("this" in sys.modules) == had_this


@pytest.mark.parametrize("command", COMMANDS)
def test_the_opt_in_imports_the_dotted_plugin(command, trained, cwd, tmp_path, capsys):
    run_dir = _copy(trained[1], tmp_path, resumable=command == "resume")
    assert main([*_command(command, run_dir, tmp_path), FLAG]) == 0, capsys.readouterr().err
    assert (cwd / MARKER).exists()


def test_report_reads_the_run_folder_without_importing_its_plugins(trained, cwd, tmp_path, capsys):
    run_dir = _copy(trained[1], tmp_path, plugin="this.x")
    assert main(["report", str(run_dir), "--redraw"]) == 0
    out, _ = capsys.readouterr()
    assert ZEN not in out and not (cwd / MARKER).exists()
    assert PACKAGE not in sys.modules


def test_the_working_directory_is_off_sys_path_while_a_run_folder_is_read(trained, cwd, tmp_path):
    # Not only dotted paths: no module of the working directory may shadow an installed one.
    from aiforge.core.plugins import run_folder_plugins

    config_file = trained[1] / "config.yaml"
    with run_folder_plugins(config_file):
        assert importlib.util.find_spec(PACKAGE) is None
    assert sys.path[0] == str(cwd)
    with run_folder_plugins(config_file, allow_dotted=True):
        assert importlib.util.find_spec(PACKAGE) is not None


def test_python_m_aiforge_evaluate_in_the_plugin_folder(trained, tmp_path):
    """The reported case itself: the real command, whose working directory holds evilpkg/."""
    work, run_dir = trained
    (work / MARKER).unlink(missing_ok=True)
    env = {**os.environ, "AIFORGE_TRACKING": "false"}
    refused = subprocess.run(
        [sys.executable, "-m", "aiforge", "evaluate", str(run_dir)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2, refused.stderr
    assert FLAG in refused.stderr and not (work / MARKER).exists()
    # As for the `aiforge` script, the working directory is importable only through PYTHONPATH.
    allowed = subprocess.run(
        [sys.executable, "-m", "aiforge", "evaluate", str(run_dir), FLAG],
        cwd=work,
        env={**env, "PYTHONPATH": str(work)},
        capture_output=True,
        text=True,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert (work / MARKER).exists()


def test_orchestrator_from_run_dir_follows_the_same_rule(trained, cwd, tmp_path):
    from aiforge.errors import ConfigError

    run_dir = _copy(trained[1], tmp_path, resumable=True)
    settings = quiet_settings(tmp_path)
    with pytest.raises(ConfigError, match=FLAG):
        Orchestrator.from_run_dir(run_dir, settings=settings)
    assert not (cwd / MARKER).exists()
    Orchestrator.from_run_dir(run_dir, settings=settings, allow_dotted_plugins=True)
    assert (cwd / MARKER).exists()
