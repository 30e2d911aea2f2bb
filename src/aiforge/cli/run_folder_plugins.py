"""The trust switches of the commands that read configs: ``--allow-dotted-plugins`` (a run folder's
config may name a plugin or class by dotted import path) and ``--no-imports`` (a config file may not)."""

from __future__ import annotations

import argparse


def allow_dotted_parser() -> argparse.ArgumentParser:
    """A parent parser with ``--allow-dotted-plugins``, for the commands that read a run folder."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--allow-dotted-plugins",
        action="store_true",
        help="import the plugins and class paths (callbacks, optimizer, loss, scheduler) that the "
        "run folder's config names by dotted import path (a run folder is data: without this only "
        "built-in, installed and AIFORGE_PLUGINS_DIR plugins and torch's own classes are used)",
    )
    return parser


def no_imports_parser() -> argparse.ArgumentParser:
    """A parent parser with ``--no-imports``, for the commands that read a config file."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--no-imports",
        action="store_true",
        help="for an untrusted config: refuse every dotted class or plugin path it names (a config "
        "that names a class imports it); only built-in names, installed and AIFORGE_PLUGINS_DIR plugins",
    )
    return parser
