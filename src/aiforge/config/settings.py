"""Application settings from AIFORGE_* environment variables and a `.env` file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class AppSettings(BaseSettings):
    """Where AIForge reads and writes, and how loud it is.

    Field names are the seed's (``settings.RESULTS_DIR``); each is set by the
    environment variable ``AIFORGE_<NAME>`` or the same line in ``.env``.
    Relative folders are relative to the working directory, and nothing is
    created until a run needs it.
    """

    model_config = SettingsConfigDict(
        env_prefix="AIFORGE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    _options: dict[str, str] = PrivateAttr(default_factory=dict)  # field -> the option that set it

    LOG_LEVEL: str = Field("INFO", description="Console log level; DEBUG also shows tracebacks on errors.")
    RESULTS_DIR: Path = Field(
        Path("results"),
        description="Root of run folders, relative to the working directory; empty is an error "
        "(use . for the working directory).",
    )
    DATA_DIR: Path = Field(Path("data"), description="Extra folder searched for a relative data_path.")
    PLUGINS_DIR: Path | None = Field(
        None,
        description="Folder of user plugin packages; a path that does not exist or is a file is an "
        "error naming it; empty means unset.",
    )
    DEVICE: str = Field("auto", description="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    TRACKING: bool = Field(
        True, description="Track runs in MLflow (a config's tracking.enabled can turn it off)."
    )
    DISTRIBUTED_TIMEOUT: float = Field(
        600.0,
        gt=0,
        description="Seconds any collective may wait under torchrun before the job fails (a dead peer).",
    )
    MLFLOW_TRACKING_URI: str | None = Field(
        None, description="MLflow tracking URI; unset: MLFLOW_TRACKING_URI or MLflow's default store."
    )

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("DEVICE")
    @classmethod
    def _known_device(cls, value: str) -> str:
        device = value.strip().lower()
        # Checked in full here: torch.device('cuda:x') would fail later with a bare RuntimeError.
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return device

    @field_validator("MLFLOW_TRACKING_URI", mode="before")
    @classmethod
    def _empty_uri_is_unset(cls, value: object) -> object:
        # AIFORGE_MLFLOW_TRACKING_URI= (empty) means unset. The URI itself is checked only where a
        # run is tracked (tracking/trackers.py): predict or evaluate never use it.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("RESULTS_DIR", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path('') is the working directory: an empty AIFORGE_RESULTS_DIR= scattered run folders there.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; unset it for the default 'results', or give a folder ('.' for here)")
        return value

    @field_validator("PLUGINS_DIR", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # AIFORGE_PLUGINS_DIR= (empty) means "no plugin folder", not the working directory.
        return None if isinstance(value, str) and not value.strip() else value


def get_settings(options: Mapping[str, str] | None = None, **overrides: object) -> AppSettings:
    """Read settings now (environment and `.env` as they are at call time).

    ``options`` names the command-line option each override came from (``{"DEVICE": "--device"}``),
    so that messages about a value name what the user typed: see :func:`setting_source`.
    """
    from pydantic import ValidationError

    from aiforge.errors import ConfigError

    options = dict(options or {})
    try:
        settings = AppSettings(**overrides)
    except UnicodeDecodeError as err:
        env_file = Path(str(AppSettings.model_config.get("env_file") or ".env")).resolve()
        raise ConfigError(
            f"{env_file} is not UTF-8 text ({err.reason} at byte {err.start}); AIForge reads AIFORGE_* "
            "settings from it: save it as UTF-8, or move it away"
        ) from None
    except ValidationError as err:
        lines = [
            f"  {options.get(str(e['loc'][0]), 'AIFORGE_' + '.'.join(map(str, e['loc'])))}: "
            f"{e['msg'].removeprefix('Value error, ')} (got {e.get('input')!r})"
            for e in err.errors()
        ]
        raise ConfigError(
            "invalid AIForge settings (AIFORGE_* variables, .env, or command-line options):\n"
            + "\n".join(lines)
        ) from None
    settings._options = options
    return settings


def setting_source(settings: AppSettings, name: str) -> str:
    """What set ``name``, as the user wrote it: ``--device`` or ``AIFORGE_DEVICE``."""
    return (getattr(settings, "_options", None) or {}).get(name) or f"AIFORGE_{name}"


def given(source: str, value: object) -> str:
    """A setting as the user typed it: ``--device cuda`` or ``AIFORGE_DEVICE=cuda``."""
    return f"{source} {value}" if source.startswith("-") else f"{source}={value}"


def check_plugins_dir(settings: AppSettings) -> None:
    """A plugin folder that is set must be a folder: a typo would otherwise hide every plugin in it."""
    from aiforge.errors import ConfigError

    folder = settings.PLUGINS_DIR
    if folder is None or folder.is_dir():
        return
    problem = "is a file, not a folder" if folder.exists() else "does not exist"
    setting = given(setting_source(settings, "PLUGINS_DIR"), folder)
    raise ConfigError(
        f"{setting}: {problem} (looked for {folder.resolve()}); "
        "give the folder that holds your plugin packages, or leave it unset"
    )


def __getattr__(name: str) -> AppSettings:
    """``from aiforge.config.settings import settings`` (the seed's global), read on first use."""
    if name == "settings":
        return get_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
