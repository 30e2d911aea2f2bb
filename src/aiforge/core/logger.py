"""Loguru set-up: a console sink, and a debug file per run; nothing happens at import."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from loguru import logger

_console_sink: int | None = None

__all__ = ["add_run_log", "configure_logging", "logger", "remove_run_log"]


def configure_logging(level: str = "INFO") -> None:
    """Replace Loguru's default handler with one console sink at ``level`` (idempotent)."""
    global _console_sink
    with contextlib.suppress(ValueError):  # Loguru's default stderr handler, if still there
        logger.remove(0)
    if _console_sink is not None:
        with contextlib.suppress(ValueError):
            logger.remove(_console_sink)
    fmt = "<green>{time:HH:mm:ss}</green> | <level>{level: <7}</level> | {message}"
    _console_sink = logger.add(
        _write_to_console, level=level.upper(), format=fmt, colorize=sys.stderr.isatty()
    )


def _write_to_console(message: str) -> None:
    """Through the shared rich console, so log lines appear above a live progress display."""
    from rich.text import Text

    from aiforge.core.console import get_console

    console = get_console()
    if console.is_terminal:
        console.print(Text.from_ansi(str(message).rstrip("\n")), soft_wrap=True)
    else:
        sys.stderr.write(str(message))
        sys.stderr.flush()


def console_configured() -> bool:
    return _console_sink is not None


def add_run_log(path: Path) -> int:
    """A DEBUG-level log file for one run, rotated at 10 MB."""
    return logger.add(path, level="DEBUG", rotation="10 MB", retention=3, encoding="utf-8")


def remove_run_log(sink_id: int) -> None:
    logger.remove(sink_id)
