"""What the command modules and ``main`` share: exit codes, the rank check and failure output.

It imports neither ``aiforge.cli`` nor a command module, so each of them can import it without a cycle.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any

from aiforge.cli.settings import main_rank, settings_from_args

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "exit_code",
    "fail",
    "main_rank",
    "settings",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C; a ``RunInterrupted`` carries 128 + its signal number (143 for SIGTERM)."""
    return int(getattr(interrupt, "exit_code", EXIT_INTERRUPTED))


def fail(message: str, debug: bool, code: int) -> int:
    """Print ``message`` to stderr (the traceback first under ``--debug``) and return ``code``."""
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def settings(args: argparse.Namespace) -> Any:
    """The settings of a command that starts a run or loads plugins (see ``settings_from_args``)."""
    return settings_from_args(args)
