"""``python -m aiforge.main``: the seed's entry point, kept as an alias of the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """:func:`aiforge.cli.main`, imported on call (see below)."""
    from aiforge.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    from aiforge._script_path import drop_working_directory

    drop_working_directory()  # as in ``python -m aiforge``: nothing from the working directory
    sys.exit(main(sys.argv[1:] or ["run"]))
