"""One way to add a command: each cli module's ``register(commands, common)`` adds its sub-parsers
and sets their ``handler``; ``build_parser`` only builds the top-level parser and calls them."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType

import aiforge.cli
from aiforge.cli import build_parser

# `aiforge --help` lists the commands in this order.
COMMANDS = [
    "run",
    "check",
    "sweep",
    "plugins",
    "examples",
    "config",
    "report",
    "evaluate",
    "predict",
    "export",
    "runs",
    "compare",
]


def cli_modules() -> list[ModuleType]:
    """``aiforge.cli`` and every module inside it."""
    names = [info.name for info in pkgutil.iter_modules(aiforge.cli.__path__, "aiforge.cli.")]
    return [aiforge.cli, *(importlib.import_module(name) for name in sorted(names))]


def subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def add_parser_owners(module: ModuleType) -> list[str]:
    """The top-level function (or ``<module>``) around each ``.add_parser(`` call in the module."""
    tree = ast.parse(inspect.getsource(module))
    owners = []
    for node in tree.body:
        owner = (
            node.name
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            else "<module>"
        )
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr == "add_parser"
            ):
                owners.append(owner)
    return owners


def registering_modules() -> list[ModuleType]:
    return [module for module in cli_modules() if add_parser_owners(module)]


def test_the_commands_keep_their_help_order() -> None:
    assert list(subparsers(build_parser()).choices) == COMMANDS


def test_every_command_has_a_handler() -> None:
    parser = build_parser()
    for name, command in subparsers(parser).choices.items():
        handler = command.get_default("handler")
        assert isinstance(handler, Callable), f"`aiforge {name}` has no handler set by set_defaults"
    # A command with sub-commands: its handler still comes through.
    args = parser.parse_args(["config", "schema"])
    assert callable(getattr(args, "handler", None)), "`aiforge config schema` parses to no handler"


def test_sub_parsers_are_added_only_by_a_register_function() -> None:
    modules = registering_modules()
    assert modules, "no cli module adds a sub-parser"
    for module in modules:
        owners = set(add_parser_owners(module))
        assert owners == {"register"}, (
            f"{module.__name__} adds sub-parsers in {sorted(owners)}, not in register()"
        )
        params = list(inspect.signature(module.register).parameters)
        assert params == ["commands", "common"], f"{module.__name__}.register takes {params}"


def test_the_register_functions_add_every_command_once_with_its_handler() -> None:
    seen: dict[str, str] = {}
    for module in registering_modules():
        common = argparse.ArgumentParser(add_help=False)
        parser = argparse.ArgumentParser(parents=[common])
        commands = parser.add_subparsers(dest="command")
        module.register(commands, common)
        for name, command in commands.choices.items():
            assert name not in seen, f"`{name}` is added by {seen.get(name)} and {module.__name__}"
            seen[name] = module.__name__
            assert callable(command.get_default("handler")), (
                f"{module.__name__} adds `{name}` without a handler"
            )
    assert sorted(seen) == sorted(COMMANDS)
