"""``aiforge report RUN_DIR``: rebuild a run's ``report.html`` (and any missing plots)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiforge.cli.folder_option import folder


def add_report_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``report`` command on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "report",
        parents=parents,
        help="rebuild report.html of a run folder, drawing any missing plots",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        metavar="RUN_DIR",
        help="a run folder (results/<experiment>/<run>), or that path relative to the results folder",
    )
    parser.add_argument("--results-dir", type=folder, help="root folder of run folders (AIFORGE_RESULTS_DIR)")
    parser.add_argument(
        "--redraw", action="store_true", help="draw every plot again, not only the missing ones"
    )
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report's path; a folder that is not a run folder raises ``DataError`` (exit 2)."""
    from aiforge.config.settings import get_settings
    from aiforge.reporting.report import build_report
    from aiforge.runs.files import locate_run_dir
    from aiforge.runtime.log import configure_logging

    results_dir = getattr(args, "results_dir", None)
    settings = get_settings(**({"RESULTS_DIR": results_dir} if results_dir is not None else {}))
    if getattr(args, "debug", False):
        configure_logging("DEBUG")
    else:
        level = getattr(args, "log_level", None)
        configure_logging(get_settings(**({"LOG_LEVEL": level} if level else {})).LOG_LEVEL)
    run_dir = locate_run_dir(args.run_dir, settings.RESULTS_DIR)  # as every command finds a run folder
    path = build_report(run_dir, redraw=args.redraw)
    print(path)
    return 0
