"""``aiforge report RUN_DIR``: rebuild a run's (or a sweep's) ``report.html`` and any missing plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiforge.cli.folder_option import folder


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``report`` command (its handler set as ``handler``); ``common``: the shared options."""
    parser = commands.add_parser(
        "report",
        parents=[common],
        help="rebuild report.html of a run folder or a sweep folder, drawing any missing plots",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        metavar="RUN_DIR",
        help="a run folder (results/<experiment>/<run>) or a sweep folder (results/<experiment>/sweeps/"
        "<study>), or that path relative to the results folder",
    )
    parser.add_argument("--results-dir", type=folder, help="root folder of run folders (AIFORGE_RESULTS_DIR)")
    parser.add_argument(
        "--redraw", action="store_true", help="draw every plot again, not only the missing ones"
    )
    parser.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report's path; a folder that is not a run folder raises ``DataError`` (exit 2)."""
    from aiforge.cli.settings import settings_from_args
    from aiforge.reporting.report import build_report
    from aiforge.reporting.sweep_folder import is_sweep_folder
    from aiforge.runs.files import locate_run_dir

    settings = settings_from_args(args, plugins=False)  # a report reads files: no plugin is loaded
    run_dir = locate_run_dir(args.run_dir, settings.RESULTS_DIR)  # as every command finds a run folder
    if is_sweep_folder(run_dir):
        from aiforge.sweeps.pictures import rebuild_report

        path = rebuild_report(run_dir, redraw=args.redraw)
    else:
        path = build_report(run_dir, redraw=args.redraw)
    print(path)
    return 0
