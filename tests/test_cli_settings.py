"""aiforge.cli.settings.settings_from_args: the one way every command builds its settings."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from aiforge.cli.settings import settings_from_args
from aiforge.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("LOG_LEVEL", "PLUGINS_DIR", "RESULTS_DIR", "DEVICE", "TRACKING"):
        monkeypatch.delenv(f"AIFORGE_{name}", raising=False)
    monkeypatch.delenv("RANK", raising=False)


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"debug": False, "log_level": None, **values})


def test_options_become_settings(tmp_path: Path) -> None:
    args = _args(device="cpu", results_dir=tmp_path / "r", plugins_dir=tmp_path, log_level="error")
    settings = settings_from_args(args)
    assert settings.DEVICE == "cpu" and tmp_path == settings.PLUGINS_DIR
    assert tmp_path / "r" == settings.RESULTS_DIR
    assert settings.LOG_LEVEL == "ERROR"


def test_debug_wins_then_quiet_then_log_level() -> None:
    assert settings_from_args(_args(debug=True, quiet=True, log_level="ERROR")).LOG_LEVEL == "DEBUG"
    assert settings_from_args(_args(quiet=True, log_level="ERROR")).LOG_LEVEL == "WARNING"
    assert settings_from_args(_args()).LOG_LEVEL == "INFO"


def test_a_bad_value_names_the_option_given(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--log-level: "):
        settings_from_args(_args(log_level="LOUD"))
    with pytest.raises(ConfigError, match=r"--plugins-dir.*does not exist"):
        settings_from_args(_args(plugins_dir=tmp_path / "missing"))


def test_commands_that_print_a_result_are_quiet_and_untracked(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_args(_args(), result_output=True)
    assert (settings.LOG_LEVEL, settings.TRACKING) == ("WARNING", False)
    monkeypatch.setenv("AIFORGE_LOG_LEVEL", "ERROR")
    assert settings_from_args(_args(), result_output=True).LOG_LEVEL == "ERROR"


def test_a_command_without_plugins_ignores_the_plugin_folder(tmp_path: Path) -> None:
    settings = settings_from_args(_args(plugins_dir=tmp_path / "missing"), plugins=False)
    assert settings.PLUGINS_DIR is None
