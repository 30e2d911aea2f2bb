"""The ``aiforge`` command line: parse arguments, then hand over to the container.

Heavy libraries (torch, torchmetrics) are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aiforge")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    from aiforge.cli.folder_option import folder

    # SUPPRESS: an option given before the command must not be reset by the command's parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--debug", action="store_true", help="show DEBUG logs and tracebacks")
    common.add_argument("--log-level", help="console log level (default: AIFORGE_LOG_LEVEL or INFO)")
    common.add_argument("--plugins-dir", type=folder, help="folder of user plugins (AIFORGE_PLUGINS_DIR)")

    experiment = argparse.ArgumentParser(add_help=False)
    experiment.add_argument("config", nargs="?", type=Path, help="experiment file (.yaml, .json, .toml)")
    experiment.add_argument(
        "--example", metavar="NAME", help="a bundled example config (see `aiforge examples`)"
    )
    experiment.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. -o training_config.epochs=30 (repeatable)",
    )
    experiment.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (AIFORGE_DEVICE)")

    parser = argparse.ArgumentParser(
        prog="aiforge",
        description="AIForge: plugin-based PyTorch experiments, from one config file to a recorded run.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"aiforge {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    from aiforge.cli.run_folder_plugins import allow_dotted_parser

    run = commands.add_parser(
        "run",
        parents=[common, experiment, allow_dotted_parser()],
        help="train an experiment (default: the bundled digits example)",
    )
    run.add_argument("--results-dir", type=folder, help="root folder for run folders (AIFORGE_RESULTS_DIR)")
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run in its folder from its newest good checkpoint",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="only warnings, errors and the final summary")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live progress display (default: on when stderr is a terminal)",
    )
    commands.add_parser(
        "check",
        parents=[common, experiment],
        help="validate a config and run one batch forward/backward, without training",
    )
    plugins = commands.add_parser("plugins", parents=[common], help="list the plugins AIForge can find")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    examples = commands.add_parser("examples", parents=[common], help="list the bundled example configs")
    examples.add_argument("name", nargs="?", help="print this example's file")
    config = commands.add_parser("config", parents=[common], help="config helpers")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    config_commands.add_parser("schema", parents=[common], help="print the JSON Schema of experiment files")
    for name, handler in COMMANDS.items():
        commands.choices[name].set_defaults(handler=handler)
    from aiforge.cli import inference, report

    report.register(commands, common)
    inference.register(commands, common)
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
        if not _main_rank() and not debug:
            return EXIT_USAGE  # under torchrun every rank finds the same bad input: rank 0 reports it
        return _fail(f"error: {err}", debug, EXIT_USAGE)
    except KeyboardInterrupt as err:
        # RunInterrupted carries 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
        return _fail(f"interrupted: {err}" if str(err) else "interrupted", debug, _exit_code(err))
    except Exception as err:
        from aiforge.runtime.distributed import is_peer_failure

        if is_peer_failure(err) and not debug:
            return EXIT_FAILURE  # another process of this torchrun job failed and reported why
        hint = "" if debug else "\n(run again with --debug for the traceback)"
        # torch errors can carry pages of C++ frames after this marker; --debug shows them all.
        text = str(err).split("\nException raised from")[0].strip()
        return _fail(f"error: the run failed: {type(err).__name__}: {text}{hint}", debug, EXIT_FAILURE)


def _exit_code(interrupt: KeyboardInterrupt) -> int:
    return int(getattr(interrupt, "exit_code", EXIT_INTERRUPTED))


def _fail(message: str, debug: bool, code: int) -> int:
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Any:
    from aiforge.cli.settings import settings_from_args

    return settings_from_args(args)


def _config_path(args: argparse.Namespace) -> Path:
    from aiforge.config.loading import example_path
    from aiforge.errors import ConfigError

    if args.config is not None and args.example is not None:
        raise ConfigError("give either a config file or --example, not both")
    if args.config is not None:
        return args.config
    if args.example is None and getattr(args, "resume", None) is not None:
        from aiforge.runs.resume import resumable_run_dir

        return resumable_run_dir(args.resume) / "config.yaml"  # the run's own resolved config
    return example_path(args.example) if args.example else example_path()


def _orchestrator(args: argparse.Namespace) -> Any:
    from aiforge.config.loading import load_experiment_config

    settings = _settings(args)
    if getattr(args, "resume", None) is not None:  # as given, else relative to the results folder
        from aiforge.runs.resume import resumable_run_dir

        args.resume = resumable_run_dir(args.resume, settings.RESULTS_DIR)
    config_path = _config_path(args)
    with _plugins_for(args, config_path):
        config = load_experiment_config(config_path, args.override, settings.PLUGINS_DIR)
        from aiforge.container import Container

        container = Container()
        container.settings.override(settings)
        container.experiment_config.override(config)
        if _show_progress(args):
            from aiforge.utils.progress import ProgressBar

            container.callbacks.override(providers_list(ProgressBar()))
        return container.orchestrator(resume_from=getattr(args, "resume", None))


def _plugins_for(args: argparse.Namespace, config_path: Path) -> Any:
    """A resumed run's own config is a run folder's: its dotted plugin paths need the opt-in."""
    import contextlib

    from aiforge.core.plugins import run_folder_plugins

    if getattr(args, "resume", None) is None or args.config is not None or args.example is not None:
        return contextlib.nullcontext()
    return run_folder_plugins(config_path, bool(getattr(args, "allow_dotted_plugins", False)))


def _show_progress(args: argparse.Namespace) -> bool:
    """On a terminal unless --quiet or --no-progress; never for `check`."""
    if args.command != "run" or getattr(args, "quiet", False):
        return False
    if args.progress is not None:
        return args.progress
    from aiforge.runtime.console import get_console

    return bool(get_console().is_terminal)


def providers_list(*items: Any) -> Any:
    from dependency_injector import providers

    return providers.List(*(providers.Object(item) for item in items))


def _main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


def cmd_run(args: argparse.Namespace) -> int:
    results = _orchestrator(args).run_experiment()
    if not _main_rank():
        return EXIT_OK
    rows = {
        "epochs completed": f"{results['epochs_completed']} (best epoch {results['best_epoch']})",
        "final val_loss": f"{results['final_val_loss']:.4f}",
        **{f"final val_{name}": f"{value:.4f}" for name, value in results["final_val_metrics"].items()},
        "results": str(Path(results["run_dir"]) / "final_results.json"),
    }
    width = max(map(len, rows)) + 2
    print(f"\nRun finished: {results['run_dir']}")
    for label, value in rows.items():
        print(f"  {label:<{width}}{value}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    orchestrator = _orchestrator(args)
    report = orchestrator.check()
    config = orchestrator.config
    print(
        f"Config OK: {config.experiment_name} (model {config.model_plugin}, dataset {config.dataset_plugin})"
    )
    print(f"  model_config       {report['model_config']}")
    print(f"  parameters         {report['parameters']:,}")
    print(f"  rows               {report['train_samples']} train / {report['val_samples']} validation")
    print(
        f"  one batch          features {report['batch_features_shape']}, loss {report['loss']:.4f}, "
        f"gradients {'finite' if report['gradients_finite'] else 'NOT finite'}"
    )
    return EXIT_OK if report["gradients_finite"] else EXIT_FAILURE


def cmd_plugins(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from aiforge.core.plugins import describe_plugins

    infos = describe_plugins(settings.PLUGINS_DIR)
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


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "plugins": cmd_plugins,
    "examples": cmd_examples,
    "config": cmd_config,
}


if __name__ == "__main__":
    sys.exit(main())
