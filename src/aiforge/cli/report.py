"""``aiforge report RUN_DIR``: rebuild a run's ``report.html`` (and any missing plots)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_report_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``report`` command on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "report",
        parents=parents,
        help="rebuild report.html of a run folder, drawing any missing plots",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="results/<experiment>/<timestamp>-<id>")
    parser.add_argument(
        "--redraw", action="store_true", help="draw every plot again, not only the missing ones"
    )
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report's path; a folder that is not a run folder raises ``DataError`` (exit 2)."""
    from aiforge.config.settings import get_settings
    from aiforge.core.logger import configure_logging
    from aiforge.reporting.report import build_report

    if getattr(args, "debug", False):
        configure_logging("DEBUG")
    else:
        level = getattr(args, "log_level", None)
        configure_logging(get_settings(**({"LOG_LEVEL": level} if level else {})).LOG_LEVEL)
    path = build_report(args.run_dir, redraw=args.redraw)
    print(path)
    return 0
