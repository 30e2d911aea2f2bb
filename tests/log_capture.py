"""Log capture for tests: the messages AIForge logs while a test runs."""

from __future__ import annotations

from collections.abc import Iterator


def logged_messages(level: str) -> Iterator[list[str]]:
    """The messages logged at ``level`` or above while the test runs (a fixture's body)."""
    from aiforge.runtime.log import logger

    messages: list[str] = []
    sink = logger.add(lambda message: messages.append(message.record["message"]), level=level)
    yield messages
    logger.remove(sink)
