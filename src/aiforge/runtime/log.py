"""Loguru set-up: a console sink, and a debug file per run; nothing happens at import."""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import datetime
from pathlib import Path

from loguru import logger

from aiforge.errors import AIForgeError

_console_sink: int | None = None

__all__ = ["add_run_log", "configure_logging", "log_written", "logger", "remove_run_log"]


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

    from aiforge.runtime.console import get_console

    console = get_console()
    if console.is_terminal:
        console.print(Text.from_ansi(str(message).rstrip("\n")), soft_wrap=True)
    else:
        sys.stderr.write(str(message))
        sys.stderr.flush()


def console_configured() -> bool:
    return _console_sink is not None


ROTATE_BYTES = 10 * 2**20  # a run's log is renamed to <name>.1 when it would pass this size
KEEP_ROTATED = 3  # <name>.1 (newest) .. <name>.3 are kept
_run_logs: dict[int, RunLogFile] = {}
_failed_logs: set[Path] = set()


def _open_log(path: Path) -> int:
    """Append-only, never through a symlink (run_files refuses one with a clear error)."""
    from aiforge.runs import files as run_files

    run_files.refuse_linked_folder(path.parent)
    return run_files.open_for_append(path)


class RunLogFile:
    """The sink of a run's debug log: its own descriptor, opened without following symlinks.

    A failed write (a full disk) closes the log with one warning on the console; the run goes on
    without it. Loguru would otherwise print a traceback for every message after.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = _open_log(path)
        self._size = os.fstat(self._fd).st_size

    def write(self, message: str) -> None:
        if self._fd is None:
            return
        data = str(message).encode("utf-8", "backslashreplace")
        try:
            if self._size and self._size + len(data) > ROTATE_BYTES:
                self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(data)
        except (OSError, AIForgeError) as err:  # a full disk; a link planted where the log rotates
            self._fail(err)

    def _rotate(self) -> None:
        """``<name>.1`` .. ``<name>.KEEP_ROTATED``, newest first; renames replace links, never follow them."""
        self.close()
        for number in range(KEEP_ROTATED - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists() or older.is_symlink():
                os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fd, self._size = _open_log(self.path), 0

    def _fail(self, err: Exception) -> None:
        self.close()
        _failed_logs.add(self.path)
        reason = getattr(err, "strerror", None) or str(err)
        # In the console sink's layout, written directly: logging from inside a sink would re-enter it.
        now = datetime.now().strftime("%H:%M:%S")
        _write_to_console(
            f"{now} | WARNING | cannot write the debug log {self.path} ({reason}); "
            "the run goes on without it\n"
        )

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def add_run_log(path: Path) -> int:
    """A DEBUG-level log file for one run, rotated at 10 MB.

    A symlink at ``path`` (or a linked folder) is refused with a LinkedRunFileError (exit 2):
    AIForge never writes through a link in a run folder.
    """
    path = Path(path)
    _failed_logs.discard(path)
    sink = RunLogFile(path)
    sink_id = logger.add(sink, level="DEBUG", catch=True, colorize=False)
    _run_logs[sink_id] = sink
    return sink_id


def remove_run_log(sink_id: int) -> None:
    logger.remove(sink_id)
    sink = _run_logs.pop(sink_id, None)
    if sink is not None:
        sink.close()


def log_written(path: Path) -> bool:
    """Whether the debug log at ``path`` exists and took every message (so a message may point to it)."""
    return Path(path) not in _failed_logs and Path(path).is_file()
