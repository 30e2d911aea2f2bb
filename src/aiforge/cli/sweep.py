"""``aiforge sweep CONFIG``: a hyperparameter search on Optuna, each trial an ordinary run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiforge.cli.common import EXIT_OK
from aiforge.cli.folder_option import folder


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more), got {text!r}")
    return value


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` command (its handler set as ``handler``); ``common``: the shared options."""
    from aiforge.cli.run_folder_plugins import no_imports_parser

    parser = commands.add_parser(
        "sweep",
        parents=[common, no_imports_parser()],
        help="search hyperparameters: trials of an experiment file with a sweep: section",
    )
    parser.add_argument(
        "config", type=Path, help="experiment file with a sweep: section (.yaml, .json, .toml)"
    )
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. -o training_config.epochs=5 or -o sweep.trials=20 (repeatable)",
    )
    parser.add_argument(
        "--workers", type=_positive, help="trials run at once on this machine (sweep.workers)"
    )
    parser.add_argument(
        "--storage", help="Optuna storage shared by machines: an RDB URL or a journal file (sweep.storage)"
    )
    parser.add_argument("--study-name", help="the study (and sweep folder) name (sweep.study_name)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live display of the trials (default: on when stderr is a terminal)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (AIFORGE_DEVICE)")
    parser.add_argument(
        "--results-dir", type=folder, help="root folder for run folders (AIFORGE_RESULTS_DIR)"
    )
    parser.set_defaults(handler=cmd_sweep)


def _show_progress(args: argparse.Namespace) -> bool:
    """On a terminal unless --no-progress (off it: one log line per finished trial)."""
    if args.progress is not None:
        return bool(args.progress)
    from aiforge.runtime.console import get_console

    return bool(get_console().is_terminal)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep and print its best trial."""
    from aiforge.cli.settings import settings_from_args
    from aiforge.sweeps.loading import load_sweep_file
    from aiforge.sweeps.runner import run_sweep

    settings = settings_from_args(args)
    options = {"workers": args.workers, "storage": args.storage, "study_name": args.study_name}
    from aiforge.config.trust import no_imports

    with no_imports(args.no_imports):  # run_sweep checks every value of the space before any trial
        setup = load_sweep_file(args.config, args.override, options, settings.PLUGINS_DIR)
        record = run_sweep(setup, settings, progress=_show_progress(args))
    done = record["trials_complete"] + record["trials_pruned"]
    print(
        f"\nSweep '{record['study_name']}': {done}/{record['trials_requested']} trials finished "
        f"({record['trials_complete']} complete, {record['trials_pruned']} pruned, "
        f"{record['trials_failed']} failed)"
    )
    if record["best_trial"] is None:
        print("  no trial completed yet")
        return EXIT_OK
    rows = {
        "best trial": str(record["best_trial"]),
        record["metric"]: f"{record['best_value']:.6g}",
        "parameters": ", ".join(f"{k}={v}" for k, v in record["best_params"].items()),
        "run folder": str(record["best_run_dir"]),
    }
    width = max(map(len, rows)) + 2
    for label, value in rows.items():
        print(f"  {label:<{width}}{value}")
    return EXIT_OK
