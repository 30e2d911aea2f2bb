"""The opt-in that lets a run folder's config name a plugin by dotted import path."""

from __future__ import annotations

import argparse


def allow_dotted_parser() -> argparse.ArgumentParser:
    """A parent parser with ``--allow-dotted-plugins``, for the commands that read a run folder."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--allow-dotted-plugins",
        action="store_true",
        help="import a plugin that the run folder's config names by dotted import path "
        "(a run folder is data: without this only built-in, installed and AIFORGE_PLUGINS_DIR "
        "plugins are used)",
    )
    return parser
