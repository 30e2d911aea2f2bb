"""The subcommands for finished runs, added to ``aiforge``'s parser by :func:`register`.

Kept cheap to import: each command imports its module (and torch, pandas, ...) when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

Command = Callable[[argparse.Namespace], int]

_RUN_DIR_HELP = "a run folder (results/<experiment>/<run>), or that path relative to the results folder"


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> dict[str, Command]:
    """Add ``evaluate``, ``predict``, ``export``, ``runs`` and ``compare``; return name -> function.

    ``common`` is the parent parser of the shared options (``--debug``, ``--log-level``, ...).
    ``--results-dir`` and ``--device`` are added here unless ``common`` already has them.
    """
    results_dir = argparse.ArgumentParser(add_help=False)
    if not _has_option(common, "--results-dir"):
        results_dir.add_argument(
            "--results-dir", type=Path, help="root folder of run folders (AIFORGE_RESULTS_DIR)"
        )

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common, results_dir],
        help="recompute a run's loss and metrics with its saved model and preprocessor",
        description="Recompute loss and metrics with the run's final weights and saved preprocessor. "
        "On the run's own validation split (the default) this reproduces final_results.json exactly.",
    )
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_DIR_HELP)
    evaluate.add_argument(
        "--data", type=Path, metavar="PATH", help="evaluate every row of this file (same dataset plugin)"
    )
    evaluate.add_argument(
        "--split", choices=("train", "val", "all"), help="rows of the run's own data (default: val)"
    )
    if not _has_option(common, "--device"):
        evaluate.add_argument(
            "--device", help="cpu, cuda, cuda:N, mps or auto (default: the run's device when available)"
        )
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")

    predict = commands.add_parser(
        "predict",
        parents=[common, results_dir],
        help="predict a CSV or Parquet file of raw feature columns with a trained run",
        description="Read raw feature columns, apply the run's saved preprocessor and model, and write "
        "the input columns plus predictions: for classification the label (`prediction`) and one "
        "`prob_<class>` column per class; for regression `prediction`.",
    )
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_DIR_HELP)
    predict.add_argument("--input", type=Path, required=True, metavar="FILE", help=".csv, .tsv or .parquet")
    predict.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to write; the format follows the suffix (.csv, .tsv, .parquet)",
    )

    export = commands.add_parser(
        "export",
        parents=[common, results_dir],
        help="export a run's model with its preprocessing as TorchScript or ONNX",
        description="Export the inference model (raw features in, probabilities or predictions out), "
        "checked against the eager model on sample rows before it is written.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_DIR_HELP)
    export.add_argument(
        "--format",
        choices=("torchscript", "onnx"),
        default="torchscript",
        help="torchscript (default) or onnx (needs: pip install onnx onnxruntime)",
    )
    export.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="file or folder to write (default: inside the run folder)",
    )

    runs = commands.add_parser(
        "runs",
        parents=[common, results_dir],
        help="list the runs in the results folder, newest first",
    )
    runs.add_argument("experiment", nargs="?", metavar="EXPERIMENT", help="only this experiment's runs")
    runs.add_argument("--json", action="store_true", help="machine-readable output")

    compare = commands.add_parser(
        "compare",
        parents=[common, results_dir],
        help="show the config and metric differences of two runs",
    )
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help=_RUN_DIR_HELP)
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help=_RUN_DIR_HELP)
    compare.add_argument("--json", action="store_true", help="machine-readable output")

    return dict(COMMANDS)


def _has_option(parser: argparse.ArgumentParser, flag: str) -> bool:
    return any(flag in action.option_strings for action in parser._actions)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.evaluate import cmd_evaluate as run

    return run(args)


def cmd_predict(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.predict import cmd_predict as run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.export import cmd_export as run

    return run(args)


def cmd_runs(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.runs import cmd_runs as run

    return run(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.runs import cmd_compare as run

    return run(args)


COMMANDS: dict[str, Command] = {
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "export": cmd_export,
    "runs": cmd_runs,
    "compare": cmd_compare,
}
