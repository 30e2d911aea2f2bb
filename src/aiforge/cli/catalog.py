"""``aiforge plugins``, ``aiforge examples`` and ``aiforge config schema``: what AIForge offers.

Added to ``aiforge``'s parser by :func:`register`; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aiforge.cli.common import EXIT_OK, settings


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``plugins``, ``examples`` and ``config`` (each with its ``handler``); ``common``: the
    shared options."""
    plugins = commands.add_parser("plugins", parents=[common], help="list the plugins AIForge can find")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=cmd_plugins)
    examples = commands.add_parser("examples", parents=[common], help="list the bundled example configs")
    examples.add_argument("name", nargs="?", help="print this example's file")
    examples.set_defaults(handler=cmd_examples)
    config = commands.add_parser("config", parents=[common], help="config helpers")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    config_commands.add_parser("schema", parents=[common], help="print the JSON Schema of experiment files")
    config.set_defaults(handler=cmd_config)


def cmd_plugins(args: argparse.Namespace) -> int:
    plugin_settings = settings(args)
    from aiforge.core.plugins import describe_plugins

    infos = describe_plugins(plugin_settings.PLUGINS_DIR)
    if args.json:
        rows = [
            {
                "name": i.location.name,
                "source": i.location.origin,
                "module": i.location.module,
                "classes": i.classes,
                "config_fields": i.config_fields,
                "error": i.error,
            }
            for i in infos
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title="AIForge plugins", show_lines=True)
    for column in ("name", "source", "classes", "model_config fields"):
        table.add_column(column)
    for info in infos:
        classes = "\n".join(f"{k}: {v}" for k, v in info.classes.items())
        if info.error:
            classes = f"{classes}\n[red]error: {info.error}[/red]".strip()
        fields = ", ".join(info.config_fields) if info.config_fields else "-"
        table.add_row(info.location.name, info.location.origin, classes, fields)
    Console(width=max(120, Console().width)).print(table)
    return EXIT_OK


def cmd_examples(args: argparse.Namespace) -> int:
    from aiforge.config.loading import example_path, list_examples

    if args.name:
        print(example_path(args.name).read_text(encoding="utf-8"), end="")
        return EXIT_OK
    for name, path in list_examples().items():
        first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name:<22} {first}")
    print("\nRun one with: aiforge run --example NAME   (print it: aiforge examples NAME)")
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from aiforge.config.model_configs import experiment_json_schema

    print(json.dumps(experiment_json_schema(), indent=2))
    return EXIT_OK
