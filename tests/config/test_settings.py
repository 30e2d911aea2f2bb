"""AppSettings from AIFORGE_* variables, a .env file and keywords; the device setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from aiforge.config.settings import LOG_LEVELS, AppSettings, get_settings
from aiforge.errors import ConfigError
from aiforge.runtime.device import resolve_device

VARIABLES = ("LOG_LEVEL", "RESULTS_DIR", "DATA_DIR", "PLUGINS_DIR", "DEVICE")


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AIFORGE_* variable from the caller, and a working directory without a .env."""
    for name in list(os.environ):
        if name.upper().startswith("AIFORGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_are_relative_and_create_nothing(tmp_path: Path) -> None:
    settings = get_settings()
    assert isinstance(settings, AppSettings)
    assert settings.LOG_LEVEL == "INFO"
    assert Path("results") == settings.RESULTS_DIR and not settings.RESULTS_DIR.is_absolute()
    assert Path("data") == settings.DATA_DIR
    assert settings.PLUGINS_DIR is None
    assert settings.DEVICE == "auto"
    assert list(tmp_path.iterdir()) == []  # reading settings makes no folders


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "debug")
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("AIFORGE_DATA_DIR", "my_data")
    monkeypatch.setenv("AIFORGE_PLUGINS_DIR", str(tmp_path / "plugins"))
    monkeypatch.setenv("AIFORGE_DEVICE", " CPU ")
    settings = get_settings()
    assert settings.LOG_LEVEL == "DEBUG"  # normalised to upper case
    assert tmp_path / "out" == settings.RESULTS_DIR
    assert Path("my_data") == settings.DATA_DIR
    assert tmp_path / "plugins" == settings.PLUGINS_DIR
    assert settings.DEVICE == "cpu"  # normalised to lower case, stripped


def test_lower_case_variable_names_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("aiforge_log_level", "WARNING")
    assert get_settings().LOG_LEVEL == "WARNING"


def test_settings_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().LOG_LEVEL == "INFO"
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "ERROR")
    assert get_settings().LOG_LEVEL == "ERROR"


def test_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nAIFORGE_LOG_LEVEL=TRACE\nAIFORGE_RESULTS_DIR=runs\nAIFORGE_DEVICE=cuda:1\nOTHER_TOOL=x\n"
    )
    settings = get_settings()
    assert settings.LOG_LEVEL == "TRACE"
    assert Path("runs") == settings.RESULTS_DIR
    assert settings.DEVICE == "cuda:1"


def test_environment_beats_dotenv_and_keywords_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("AIFORGE_LOG_LEVEL=TRACE\nAIFORGE_DATA_DIR=from_dotenv\n")
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "ERROR")
    settings = get_settings()
    assert settings.LOG_LEVEL == "ERROR"
    assert Path("from_dotenv") == settings.DATA_DIR
    overridden = get_settings(LOG_LEVEL="DEBUG", DATA_DIR="kw", PLUGINS_DIR=tmp_path)
    assert overridden.LOG_LEVEL == "DEBUG"
    assert Path("kw") == overridden.DATA_DIR
    assert tmp_path == overridden.PLUGINS_DIR


def test_every_log_level_is_accepted() -> None:
    for level in LOG_LEVELS:
        assert level == get_settings(LOG_LEVEL=level.lower()).LOG_LEVEL


def test_invalid_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "LOUD")
    with pytest.raises(
        ConfigError,
        match=r"^invalid AIForge settings \(AIFORGE_\* variables, \.env, or command-line options\):\n"
        r"  AIFORGE_LOG_LEVEL: must be one of TRACE, DEBUG, INFO",
    ):
        get_settings()


@pytest.mark.parametrize("device", ["gpu", "cuda:abc", "cuda:", "tpu", "cpu,cuda", ""])
def test_invalid_device(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    monkeypatch.setenv("AIFORGE_DEVICE", device)
    with pytest.raises(ConfigError, match=r"  AIFORGE_DEVICE: must be auto, cpu, cuda, cuda:N or mps"):
        get_settings()


@pytest.mark.parametrize(
    ("given", "kept"), [("auto", "auto"), ("CUDA", "cuda"), ("cuda:0", "cuda:0"), ("mps", "mps")]
)
def test_valid_devices(given: str, kept: str) -> None:
    assert kept == get_settings(DEVICE=given).DEVICE


def test_invalid_settings_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        get_settings(DEVICE="gpu")
    lines = str(info.value).splitlines()
    assert [line.split(":")[0] for line in lines[1:]] == ["  AIFORGE_LOG_LEVEL", "  AIFORGE_DEVICE"]


def test_empty_plugins_dir_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: AIFORGE_PLUGINS_DIR= used to become Path('.'), turning every package
    # folder in the working directory into a plugin.
    monkeypatch.setenv("AIFORGE_PLUGINS_DIR", "")
    assert get_settings().PLUGINS_DIR is None


# --- runtime/device.py ---------------------------------------------------------------------------


def test_resolve_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_is_cpu_without_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(), reason="an accelerator is available"
)
def test_auto_is_cpu_on_this_machine() -> None:
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"^AIFORGE_DEVICE=cuda but CUDA is not available; use cpu or auto$"
    ):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"^AIFORGE_DEVICE=cuda:1 but CUDA is not available"):
        resolve_device("cuda:1")


def test_mps_without_mps_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^AIFORGE_DEVICE=mps but MPS is not available; use cpu or auto$"):
        resolve_device("mps")
