"""The ``aiforge`` command line: parse arguments, then hand over to the command's handler.

Each command module (``experiment``, ``catalog``, ``report``, ``inference``) adds its commands,
handlers included, with ``register(commands, common)``. Heavy libraries (torch, torchmetrics) are
imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aiforge.cli.common import EXIT_FAILURE, EXIT_USAGE, exit_code, fail, main_rank


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aiforge")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each command module adds its commands (and handlers) by ``register``."""
    from aiforge.cli.folder_option import folder

    # SUPPRESS: an option given before the command must not be reset by the command's parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--debug", action="store_true", help="show DEBUG logs and tracebacks")
    common.add_argument("--log-level", help="console log level (default: AIFORGE_LOG_LEVEL or INFO)")
    common.add_argument("--plugins-dir", type=folder, help="folder of user plugins (AIFORGE_PLUGINS_DIR)")

    parser = argparse.ArgumentParser(
        prog="aiforge",
        description="AIForge: plugin-based PyTorch experiments, from one config file to a recorded run.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"aiforge {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    from aiforge.cli import catalog, experiment, inference, report, sweep

    # In this order in `aiforge --help`: run, check, sweep, plugins, examples, config, report, evaluate, ...
    for module in (experiment, sweep, catalog, report, inference):
        module.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Defaults are filled here, not by the parsers: their actions are shared, so a default
    # set on one parser would overwrite a value given before the command.
    for name, default in (("debug", False), ("log_level", None), ("plugins_dir", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command is None:
        build_parser().print_help()
        return EXIT_USAGE
    debug = args.debug or os.environ.get("AIFORGE_LOG_LEVEL", "").upper() in ("DEBUG", "TRACE")
    from aiforge.errors import AIForgeError

    try:
        return args.handler(args)
    except AIForgeError as err:
        if not main_rank() and not debug:
            return EXIT_USAGE  # under torchrun every rank finds the same bad input: rank 0 reports it
        return fail(f"error: {err}", debug, EXIT_USAGE)
    except KeyboardInterrupt as err:
        # RunInterrupted carries 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
        return fail(f"interrupted: {err}" if str(err) else "interrupted", debug, exit_code(err))
    except Exception as err:
        from aiforge.runtime.distributed import is_peer_failure

        if is_peer_failure(err) and not debug:
            return EXIT_FAILURE  # another process of this torchrun job failed and reported why
        hint = "" if debug else "\n(run again with --debug for the traceback)"
        # torch errors can carry pages of C++ frames after this marker; --debug shows them all.
        text = str(err).split("\nException raised from")[0].strip()
        return fail(f"error: the run failed: {type(err).__name__}: {text}{hint}", debug, EXIT_FAILURE)


def console_main() -> int:
    """The ``aiforge`` command and ``python -m aiforge``: :func:`main`, then the process ends.

    The objects left at that point are frozen out of the garbage collector first, so the
    interpreter's shutdown frees them without searching torch's, MLflow's and the run's objects
    for cycles: about a second of a tiny run (``benchmarks/startup.py``). Nothing waits on a
    collector: every file a command writes is closed before it returns. Not part of
    :func:`main`, which tests and Python callers run inside their own long-lived process.
    """
    code = main()
    import gc

    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
