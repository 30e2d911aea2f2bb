"""``aiforge run`` and ``aiforge check``: an experiment file in, a run (or one checked batch) out.

Added to ``aiforge``'s parser by :func:`register`; torch and the container load when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aiforge.cli.common import EXIT_FAILURE, EXIT_OK, settings
from aiforge.cli.folder_option import folder


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``run`` and ``check`` (each with its ``handler``); ``common``: the shared options."""
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

    from aiforge.cli.run_folder_plugins import allow_dotted_parser, no_imports_parser

    experiment = argparse.ArgumentParser(add_help=False, parents=[experiment, no_imports_parser()])
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
    run.set_defaults(handler=cmd_run)
    check = commands.add_parser(
        "check",
        parents=[common, experiment],
        help="validate a config and run one batch forward/backward, without training",
    )
    check.set_defaults(handler=cmd_check)


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

    run_settings = settings(args)
    if getattr(args, "resume", None) is not None:  # as given, else relative to the results folder
        from aiforge.runs.resume import resumable_run_dir

        args.resume = resumable_run_dir(args.resume, run_settings.RESULTS_DIR)
    config_path = _config_path(args)
    from aiforge.config.trust import no_imports

    with no_imports(bool(getattr(args, "no_imports", False))), _plugins_for(args, config_path):
        config = load_experiment_config(config_path, args.override, run_settings.PLUGINS_DIR)
        from aiforge.container import Container

        container = Container()
        container.settings.override(run_settings)
        container.experiment_config.override(config)
        if _show_progress(args):
            from aiforge.utils.progress import ProgressBar

            container.callbacks.override(providers_list(ProgressBar()))
        from aiforge.errors import CallbackInitError

        try:
            return container.orchestrator(resume_from=getattr(args, "resume", None))
        except CallbackInitError as err:  # built from the config: name its file
            raise CallbackInitError(f"{config_path}: {err}") from err


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


def cmd_run(args: argparse.Namespace) -> int:
    orchestrator = _orchestrator(args)
    orchestrator.results_ready = _print_results  # before MLflow's end-of-run uploads
    orchestrator.run_experiment()
    return EXIT_OK


def _print_results(results: dict[str, Any]) -> None:
    rows = {
        "epochs completed": f"{results['epochs_completed']} (best epoch {results['best_epoch']})",
        "final val_loss": f"{results['final_val_loss']:.4f}",
        **{f"final val_{name}": f"{value:.4f}" for name, value in results["final_val_metrics"].items()},
        "results": str(Path(results["run_dir"]) / "final_results.json"),
    }
    width = max(map(len, rows)) + 2
    print(f"\nRun finished: {results['run_dir']}", flush=True)
    for label, value in rows.items():
        print(f"  {label:<{width}}{value}", flush=True)


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
