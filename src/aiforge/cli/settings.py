"""The one way a command turns its options into settings (and sets the console log level)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def main_rank() -> bool:
    """Rank 0 of a torchrun job, or a plain process."""
    return os.environ.get("RANK", "0") == "0"


def settings_from_args(args: argparse.Namespace, *, result_output: bool = False, plugins: bool = True) -> Any:
    """Settings from ``--debug``, ``--log-level``, ``--quiet``, ``--plugins-dir``, ``--device`` and
    ``--results-dir`` over AIFORGE_* and .env; each override remembers its option for messages.

    ``result_output``: the command prints a result (a table, JSON, a path) and starts no run:
    tracking is off, and logs are WARNING unless --debug, --log-level or AIFORGE_LOG_LEVEL say
    otherwise. ``plugins``: the command loads plugins, so --plugins-dir counts and is checked.
    """
    from aiforge.config.settings import check_plugins_dir, get_settings
    from aiforge.runtime.log import configure_logging

    overrides: dict[str, Any] = {"TRACKING": False} if result_output else {}
    options: dict[str, str] = {}
    if getattr(args, "debug", False):
        overrides["LOG_LEVEL"] = "DEBUG"
    elif getattr(args, "quiet", False) or not main_rank():
        overrides["LOG_LEVEL"] = "WARNING"  # under torchrun, rank 0 alone reports progress
    elif getattr(args, "log_level", None):
        overrides["LOG_LEVEL"] = args.log_level
        options["LOG_LEVEL"] = "--log-level"
    elif result_output and not os.environ.get("AIFORGE_LOG_LEVEL"):
        overrides["LOG_LEVEL"] = "WARNING"
    named = (("plugins_dir", "PLUGINS_DIR"), ("device", "DEVICE"), ("results_dir", "RESULTS_DIR"))
    for option, name in named:
        if getattr(args, option, None) is not None and (plugins or name != "PLUGINS_DIR"):
            overrides[name] = getattr(args, option)
            options[name] = f"--{option.replace('_', '-')}"
    settings = get_settings(options, **overrides)
    if plugins:
        check_plugins_dir(settings)
    configure_logging(settings.LOG_LEVEL)
    return settings
