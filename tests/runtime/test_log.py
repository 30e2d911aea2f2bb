"""Console logging set-up: it replaces only its own sink, never the caller's."""

from __future__ import annotations

import contextlib

import pytest
from loguru import logger

import aiforge.runtime.log as aiforge_logger
from aiforge.runtime.log import configure_logging


def test_configure_logging_keeps_sinks_the_caller_added(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: the first call ran logger.remove(), dropping every sink an embedding app had added.
    monkeypatch.setattr(aiforge_logger, "_console_sink", None)  # as on the first call in a process
    messages: list[str] = []
    caller_sink = logger.add(messages.append, level="INFO", format="{message}")
    try:
        configure_logging("WARNING")
        configure_logging("WARNING")  # again: only AIForge's own console sink is replaced
        logger.info("still delivered")
    finally:
        with contextlib.suppress(ValueError):
            logger.remove(caller_sink)
        with contextlib.suppress(ValueError):
            logger.remove(aiforge_logger._console_sink)  # the sink this test added
    assert [message.strip() for message in messages] == ["still delivered"]
