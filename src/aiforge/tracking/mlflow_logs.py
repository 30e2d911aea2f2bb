"""MLflow's error and info logs go to AIForge's debug log, not the terminal, while AIForge talks to MLflow.

MLflow logs every failed store call itself, at ERROR with a SQLAlchemy traceback (~60 lines each),
through its own stderr handler (shared with ``sqlalchemy.engine`` and ``alembic``). AIForge
reports a tracking failure once, as a warning naming the store; the details stay in
``aiforge_debug.log``. MLflow's INFO lines ("Creating initial MLflow database tables", "Creating a
new experiment") go there too: ``-q`` shows only warnings, errors and the summary, and AIForge says
itself which MLflow run it tracks to. MLflow's warnings stay on the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator

# The loggers MLflow gives its stderr handler (mlflow.utils.logging_utils._configure_mlflow_loggers).
MLFLOW_LOGGERS = ("mlflow", "sqlalchemy.engine", "alembic")


class _ErrorsToDebugLog(logging.Filter):
    """Passes WARNING records; an ERROR or INFO record (or one with a traceback) goes to the debug log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.WARNING <= record.levelno < logging.ERROR and not record.exc_info:
            return True
        from aiforge.runtime.log import logger

        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        logger.debug(f"{record.name} ({record.levelname}): {text}")
        return False


_FILTER = _ErrorsToDebugLog()
_users = 0


def _handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for name in MLFLOW_LOGGERS:
        found += [handler for handler in logging.getLogger(name).handlers if handler not in found]
    return found


def route_mlflow_errors(on: bool) -> None:
    """Start (``on``) or stop routing MLflow's error logs to the debug log; calls nest."""
    global _users
    _users = _users + 1 if on else max(_users - 1, 0)
    for handler in _handlers():
        if _users and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
        elif not _users:
            handler.removeFilter(_FILTER)


@contextlib.contextmanager
def mlflow_errors_to_debug_log() -> Iterator[None]:
    """MLflow's error logs go to the debug log while the block runs."""
    route_mlflow_errors(True)
    try:
        yield
    finally:
        route_mlflow_errors(False)
