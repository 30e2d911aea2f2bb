"""Settings a user got wrong are refused with exit 2, naming what was set (the AIFORGE_* variable, the
command-line option or the .env file) and the value: nothing is accepted silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from aiforge.cli import main
from aiforge.config.settings import get_settings
from aiforge.errors import ConfigError
from aiforge.runtime.device import resolve_device

CONFIG = """
experiment_name: settings
model_plugin: simple_nn
dataset_plugin: simple_nn
dataset_args: {num_samples: 40, input_dim: 4}
model_config: {hidden_dim: 8}
training_config: {epochs: 1, batch_size: 8}
"""


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("AIFORGE_") and name.upper() != "AIFORGE_TRACKING":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# --- the plugins folder -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_plugins_dir_variable_must_be_a_folder(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys, kind: str
) -> None:
    path = workdir / "nonexistent"
    if kind == "file":
        path.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("AIFORGE_PLUGINS_DIR", str(path))
    code, err = cli(capsys, "check", "exp.yaml")
    assert code == 2, err
    assert "AIFORGE_PLUGINS_DIR" in err and str(path) in err
    assert ("not a folder" if kind == "file" else "does not exist") in err


def test_plugins_dir_option_is_named_as_the_option(workdir: Path, capsys) -> None:
    code, err = cli(capsys, "check", "exp.yaml", "--plugins-dir", "/nonexistent")
    assert code == 2, err
    assert "--plugins-dir" in err and "/nonexistent" in err
    assert "AIFORGE_PLUGINS_DIR" not in err
    code, err = cli(capsys, "--plugins-dir", "/nonexistent", "plugins")
    assert code == 2 and "--plugins-dir" in err


def test_an_existing_plugins_dir_is_accepted(workdir: Path, capsys) -> None:
    (workdir / "plugins").mkdir()
    code, err = cli(capsys, "check", "exp.yaml", "--plugins-dir", "plugins")
    assert code == 0, err


# --- the results folder -----------------------------------------------------------------------


def test_an_empty_results_dir_variable_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Regression: AIFORGE_RESULTS_DIR= became Path('.'), and run folders landed in the working directory.
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", "")
    code, err = cli(capsys, "run", "exp.yaml")
    assert code == 2, err
    assert "AIFORGE_RESULTS_DIR" in err and "empty" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["exp.yaml"]
    with pytest.raises(ConfigError, match="AIFORGE_RESULTS_DIR"):
        get_settings()


def test_an_explicit_dot_results_dir_is_still_allowed(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", ".")
    assert Path(".") == get_settings().RESULTS_DIR


# --- the .env file ----------------------------------------------------------------------------


def test_a_dot_env_that_is_not_utf8_is_named(workdir: Path, capsys) -> None:
    (workdir / ".env").write_bytes(b"\xff\xfeA\x00I\x00F\x00=\x001\x00\n\x00")
    code, err = cli(capsys, "check", "exp.yaml")
    assert code == 2, err
    assert ".env" in err and "UTF-8" in err
    assert "UnicodeDecodeError" not in err
    with pytest.raises(ConfigError, match=r"\.env"):
        get_settings()


# --- the device -------------------------------------------------------------------------------


def test_device_message_names_the_option_that_was_used(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = cli(capsys, "check", "exp.yaml", "--device", "cuda")
    assert code == 2, err
    assert "--device cuda" in err and "AIFORGE_DEVICE" not in err
    monkeypatch.setenv("AIFORGE_DEVICE", "cuda")
    code, err = cli(capsys, "check", "exp.yaml")
    assert code == 2, err
    assert "AIFORGE_DEVICE=cuda" in err


def test_resolve_device_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^--device cuda:1 but CUDA is not available"):
        resolve_device("cuda:1", source="--device")
    with pytest.raises(ConfigError, match=r"^AIFORGE_DEVICE=cuda but CUDA"):
        resolve_device("cuda")


def test_a_bad_option_value_is_named_as_the_option(capsys) -> None:
    code, err = cli(capsys, "check", "exp.yaml", "--device", "gpu")
    assert code == 2, err
    assert "--device: must be auto, cpu, cuda, cuda:N or mps (got 'gpu')" in err
