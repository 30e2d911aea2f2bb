"""The subcommands for finished runs, added to ``aiforge``'s parser by :func:`register`.

Kept cheap to import: each command imports its module (and torch, pandas, ...) when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiforge.cli.folder_option import folder

Command = Callable[[argparse.Namespace], int]

_RUN_DIR_HELP = "a run folder (results/<experiment>/<run>), or that path relative to the results folder"


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``evaluate``, ``predict``, ``export``, ``runs`` and ``compare``, each with its ``handler``.

    ``common`` is the parent parser of the shared options (``--debug``, ``--log-level``, ...).
    ``--results-dir`` and ``--device`` are added here unless ``common`` already has them.
    """
    results_dir = argparse.ArgumentParser(add_help=False)
    if not _has_option(common, "--results-dir"):
        results_dir.add_argument(
            "--results-dir", type=folder, help="root folder of run folders (AIFORGE_RESULTS_DIR)"
        )
    from aiforge.cli.run_folder_plugins import allow_dotted_parser

    dotted = allow_dotted_parser()

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common, results_dir, dotted],
        help="recompute a run's loss and metrics with its saved model and preprocessor",
        description="Recompute loss and metrics with the run's final weights and saved preprocessor. "
        "On the run's own validation split (the default) this reproduces final_results.json exactly.",
    )
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_DIR_HELP)
    evaluate.add_argument(
        "--data", type=Path, metavar="PATH", help="evaluate every row of this file (same dataset plugin)"
    )
    evaluate.add_argument(
        "--split",
        choices=("train", "val", "test", "all"),
        help="rows of the run's own data (default: val; test: the held-out test split of a run that has one)",
    )
    if not _has_option(common, "--device"):
        evaluate.add_argument(
            "--device", help="cpu, cuda, cuda:N, mps or auto (default: the run's device when available)"
        )
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")

    predict = commands.add_parser(
        "predict",
        parents=[common, results_dir, dotted],
        help="predict a CSV or Parquet file of raw feature columns with a trained run",
        description="Read raw feature columns, apply the run's saved preprocessor and model, and write "
        "the input columns plus predictions: for classification the label (`prediction`) and one "
        "`prob_<class>` column per class; for regression `prediction`.",
    )
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_DIR_HELP)
    predict.add_argument(
        "--input",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="a .csv, .tsv or .parquet table of input columns; for a run on images, image files "
        "or folders of them (one output row per image)",
    )
    predict.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to write (not inside a run folder); the format follows the suffix (.csv, .tsv, .parquet)",
    )
    predict.add_argument("--overwrite", action="store_true", help="replace --output if it exists")

    export = commands.add_parser(
        "export",
        parents=[common, results_dir, dotted],
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
        help="file or folder to write, not inside a run folder (default: its file in the run folder)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace --output if it exists")

    runs = commands.add_parser(
        "runs",
        parents=[common, results_dir],
        help="list the runs in the results folder, newest first, then its sweeps",
    )
    runs.add_argument("experiment", nargs="?", metavar="EXPERIMENT", help="only this experiment's runs")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    runs.add_argument("--sweeps", action="store_true", help="list the sweeps instead of the runs")

    compare = commands.add_parser(
        "compare",
        parents=[common, results_dir],
        help="show the config and metric differences of two runs (a sweep folder: its best trial's run)",
    )
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help=_RUN_DIR_HELP)
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help=_RUN_DIR_HELP)
    compare.add_argument("--json", action="store_true", help="machine-readable output")

    for name, handler in COMMANDS.items():
        commands.choices[name].set_defaults(handler=handler)


def _settings(args: argparse.Namespace) -> Any:
    """Tracking off and quiet logs: these commands print a result and start no run."""
    from aiforge.cli.settings import settings_from_args

    return settings_from_args(args, result_output=True)


def _allow_dotted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "allow_dotted_plugins", False))


def _has_option(parser: argparse.ArgumentParser, flag: str) -> bool:
    return any(flag in action.option_strings for action in parser._actions)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from aiforge.inference_commands.evaluate import check_options, evaluate_run, format_table
    from aiforge.inference_commands.loading import load_run, stdout_console

    settings = _settings(args)
    data = getattr(args, "data", None)
    split = check_options(getattr(args, "split", None), data)
    loaded = load_run(args.run_dir, settings, allow_dotted_plugins=_allow_dotted(args))
    result = evaluate_run(loaded, split, data)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
        return 0
    console = stdout_console()
    console.print(f"Run {result['run_dir']}", soft_wrap=True)
    console.print(format_table(result))
    if "matches_run_final" in result:
        which = "test" if result["split"] == "test" else "validation"
        if result["matches_run_final"]:
            console.print(f"Identical to the run's final {which} loss and metrics.")
        else:
            console.print(
                f"[yellow]Differs from the run's final {which} results[/yellow] "
                f"(evaluated on {result['device']}; a different device or library version changes rounding)."
            )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.loading import load_run
    from aiforge.inference_commands.predict import (
        check_file_inputs,
        check_paths,
        is_table_input,
        predict_file,
        predict_files,
        takes_files,
    )

    given = args.input if isinstance(args.input, list) else [args.input]
    inputs, output_path = [Path(path) for path in given], Path(args.output)
    overwrite = getattr(args, "overwrite", False)
    table = is_table_input(inputs)
    if table:  # before the run is loaded: fails fast
        check_paths(inputs[0], output_path, overwrite)
    else:
        check_file_inputs(inputs, output_path, overwrite)
    loaded = load_run(args.run_dir, _settings(args), device="cpu", allow_dotted_plugins=_allow_dotted(args))
    if table and takes_files(loaded):  # an image run: a .txt or .csv given is a file to read as one
        table = False
    if table:
        summary = predict_file(loaded, inputs[0], output_path, overwrite)
    else:
        summary = predict_files(loaded, inputs, output_path, overwrite)
    columns = ", ".join(summary["columns"])
    print(f"Wrote {summary['rows']} predictions to {summary['output']} (columns {columns})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from aiforge.inference_commands.export import check_format, check_output, export_run
    from aiforge.inference_commands.loading import load_run

    fmt = getattr(args, "format", "torchscript")
    check_format(fmt)
    output, overwrite = getattr(args, "output", None), getattr(args, "overwrite", False)
    if output is not None:
        check_output(output, fmt, overwrite)  # before the run is loaded: fails fast
    loaded = load_run(args.run_dir, _settings(args), device="cpu", allow_dotted_plugins=_allow_dotted(args))
    result = export_run(loaded, fmt, output, overwrite)
    print(
        f"Wrote {result['path']} ({fmt}; checked against the eager model on "
        f"{' and '.join(map(str, result['checked_rows']))} rows, max abs difference "
        f"{result['max_abs_difference']:.2e})"
    )
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    import json

    from aiforge.inference_commands.loading import stdout_console
    from aiforge.inference_commands.runs import list_runs, list_sweeps, runs_table, sweeps_table

    results_dir = Path(_settings(args).RESULTS_DIR)
    experiment = getattr(args, "experiment", None)
    if getattr(args, "sweeps", False):
        sweeps = list_sweeps(results_dir, experiment)
        if getattr(args, "json", False):
            print(json.dumps(sweeps, indent=2))
        elif not sweeps:
            print(f"No sweeps in {results_dir.resolve()}")
        else:
            stdout_console().print(sweeps_table(sweeps, f"Sweeps in {results_dir}"))
        return 0
    runs = list_runs(results_dir, experiment)
    if getattr(args, "json", False):
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        hint = "choose the folder with --results-dir or AIFORGE_RESULTS_DIR"
        print(f"No runs in {results_dir.resolve()} ({hint})")
        return 0
    where = f"{results_dir}/{experiment}" if experiment else str(results_dir)
    stdout_console().print(runs_table(runs, f"Runs in {where}, newest first"))
    sweeps = list_sweeps(results_dir, experiment)
    if sweeps:  # a results folder without sweeps lists exactly as before
        stdout_console().print(sweeps_table(sweeps, f"Sweeps in {where} (aiforge runs --sweeps)"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from aiforge.inference_commands.loading import resolve_run_dir, stdout_console
    from aiforge.inference_commands.runs import compare_runs, compare_tables, sweep_best_run

    settings = _settings(args)
    sweeps = [sweep_best_run(path, settings.RESULTS_DIR) for path in (args.run_a, args.run_b)]
    run_a = sweeps[0]["run_dir"] if sweeps[0] else resolve_run_dir(args.run_a, settings.RESULTS_DIR)
    run_b = sweeps[1]["run_dir"] if sweeps[1] else resolve_run_dir(args.run_b, settings.RESULTS_DIR)
    result = compare_runs(run_a, run_b)
    if any(sweeps):  # a sweep stands for its best trial's run
        result["sweeps"] = {
            side: None if sweep is None else {k: v for k, v in sweep.items() if k != "run_dir"}
            for side, sweep in zip(("a", "b"), sweeps, strict=True)
        }
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=str))
        return 0
    console = stdout_console()
    for side, sweep in zip("AB", sweeps, strict=True):
        if sweep is not None:
            console.print(
                f"{side}: sweep {sweep['study']} ({sweep['folder']}): best trial {sweep['best_trial']}, "
                f"{sweep['metric']} = {sweep['best_value']}"
            )
    console.print(f"A: {run_a}  ({result['status']['a']})\nB: {run_b}  ({result['status']['b']})")
    for shown in compare_tables(result):
        console.print(shown)
    return 0


COMMANDS: dict[str, Command] = {
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "export": cmd_export,
    "runs": cmd_runs,
    "compare": cmd_compare,
}
