"""Application settings from AIFORGE_* environment variables and a `.env` file."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
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

    LOG_LEVEL: str = Field("INFO", description="Console log level (DEBUG shows tracebacks).")
    RESULTS_DIR: Path = Field(Path("results"), description="Root folder for run directories.")
    DATA_DIR: Path = Field(Path("data"), description="Extra folder searched for data files.")
    PLUGINS_DIR: Path | None = Field(None, description="Folder of user plugin packages.")
    DEVICE: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
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

    @field_validator("PLUGINS_DIR", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # AIFORGE_PLUGINS_DIR= (empty) means "no plugin folder", not the working directory.
        return None if isinstance(value, str) and not value.strip() else value


def get_settings(**overrides: object) -> AppSettings:
    """Read settings now (environment and `.env` as they are at call time)."""
    from pydantic import ValidationError

    from aiforge.errors import ConfigError

    try:
        return AppSettings(**overrides)
    except ValidationError as err:
        lines = [
            f"  AIFORGE_{'.'.join(map(str, e['loc']))}: "
            f"{e['msg'].removeprefix('Value error, ')} (got {e.get('input')!r})"
            for e in err.errors()
        ]
        raise ConfigError(
            "invalid AIForge settings (AIFORGE_* variables, .env, or command-line options):\n"
            + "\n".join(lines)
        ) from None


def __getattr__(name: str) -> AppSettings:
    """``from aiforge.config.settings import settings`` (the seed's global), read on first use."""
    if name == "settings":
        return get_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
