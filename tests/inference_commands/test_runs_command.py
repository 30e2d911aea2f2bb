"""`aiforge runs` and `aiforge compare`, and the parsers that `register` adds."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiforge.cli.inference import cmd_compare, cmd_runs, register
from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import ConfigError
from aiforge.inference_commands.runs import compare_runs, flatten, list_runs


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """Two finished iris runs (learning rates 0.01 and 0.05) and one that never finished."""
    root = tmp_path_factory.mktemp("runs") / "results"
    settings = AppSettings(RESULTS_DIR=root, DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
    run_dirs = []
    for rate in (0.01, 0.05):
        config = ExperimentConfig(
            experiment_name="iris_runs",
            model_plugin="simple_nn",
            dataset_plugin="iris",
            training_config=TrainingConfig(epochs=3, batch_size=16, learning_rate=rate),
            tracking={"enabled": False},
        )
        run_dirs.append(Path(Orchestrator(config, settings=settings).run_experiment()["run_dir"]))
    for hour, run_dir in enumerate(run_dirs):  # start times an hour apart, whatever the wall clock did
        record = json.loads((run_dir / "environment.json").read_text())
        record["created"] = f"2024-05-01T1{hour}:00:00+00:00"
        (run_dir / "environment.json").write_text(json.dumps(record))
    unfinished = root / "other_experiment" / "20000101-000000-abcdef"
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "config.yaml").write_text("experiment_name: other_experiment\n")
    return root, run_dirs[0], run_dirs[1], unfinished


def test_runs_lists_every_run_newest_first(results):
    root, first, second, unfinished = results
    runs = list_runs(root)
    assert [r["folder"] for r in runs] == [str(second), str(first), str(unfinished)]
    assert [r["status"] for r in runs] == ["completed", "completed", "incomplete"]
    assert [r["id"] for r in runs] == [second.name, first.name, unfinished.name]
    final = json.loads((first / "final_results.json").read_text())
    assert runs[1]["final_val_loss"] == final["final_val_loss"]
    assert runs[1]["final_val_metrics"] == final["final_val_metrics"]
    assert runs[2]["date"] == "2000-01-01 00:00:00"
    assert [r["id"] for r in list_runs(root, "iris_runs")] == [second.name, first.name]


def test_cmd_runs_prints_a_table_and_json(results, capsys):
    root, first, second, unfinished = results
    assert cmd_runs(argparse.Namespace(results_dir=root, experiment=None)) == 0
    out = capsys.readouterr().out
    for name in (first.name, second.name, unfinished.name, "completed", "incomplete", "val_accuracy"):
        assert name in out
    assert out.index(second.name) < out.index(first.name) < out.index(unfinished.name)

    assert cmd_runs(argparse.Namespace(results_dir=root, experiment="iris_runs", json=True)) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [second.name, first.name]


def test_runs_errors_and_an_empty_results_folder(results, tmp_path, capsys):
    root = results[0]
    with pytest.raises(ConfigError, match=r"no experiment 'iris_run' .*did you mean 'iris_runs'"):
        list_runs(root, "iris_run")
    assert list_runs(tmp_path / "missing") == []
    assert cmd_runs(argparse.Namespace(results_dir=tmp_path / "missing")) == 0
    assert "No runs in" in capsys.readouterr().out


def test_compare_shows_the_changed_learning_rate_and_metric_deltas(results):
    _, first, second, _ = results
    result = compare_runs(first, second)
    assert result["config"] == [{"key": "training_config.learning_rate", "a": 0.01, "b": 0.05}]
    final_a = json.loads((first / "final_results.json").read_text())
    final_b = json.loads((second / "final_results.json").read_text())
    rows = {row["name"]: row for row in result["metrics"]}
    assert list(rows) == ["val_loss", "val_accuracy", "val_f1"]
    assert rows["val_loss"]["a"] == final_a["final_val_loss"]
    assert rows["val_loss"]["delta"] == final_b["final_val_loss"] - final_a["final_val_loss"]
    accuracy = final_b["final_val_metrics"]["accuracy"] - final_a["final_val_metrics"]["accuracy"]
    assert rows["val_accuracy"]["delta"] == accuracy


def test_cmd_compare_prints_both_tables(results, capsys):
    root, first, second, unfinished = results
    assert cmd_compare(argparse.Namespace(run_a=first, run_b=second)) == 0
    out = capsys.readouterr().out
    assert "training_config.learning_rate" in out and "0.01" in out and "0.05" in out
    assert "delta (B - A)" in out and "val_accuracy" in out

    relative = Path("iris_runs") / first.name
    assert cmd_compare(argparse.Namespace(run_a=relative, run_b=first, results_dir=root, json=True)) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["config"] == [] and all(row["delta"] == 0 for row in same["metrics"])

    assert cmd_compare(argparse.Namespace(run_a=first, run_b=unfinished)) == 0
    out = capsys.readouterr().out
    assert "incomplete" in out and "experiment_name" in out


def test_compare_errors(results, tmp_path):
    _, first, _, _ = results
    with pytest.raises(ConfigError, match=r"run folder not found: .*gone"):
        cmd_compare(argparse.Namespace(run_a=first, run_b=tmp_path / "gone"))


def test_flatten_keeps_lists_and_empty_mappings():
    data = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}, "f": None}
    assert flatten(data) == {"a.b": 1, "a.c.d": [1, 2], "e": {}, "f": None}


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--debug", action="store_true")
    parser = argparse.ArgumentParser(prog="aiforge", parents=[common])
    commands = parser.add_subparsers(dest="command")
    register(commands, common)
    return parser, {name: sub.get_default("handler") for name, sub in commands.choices.items()}


def test_register_adds_the_five_commands():
    parser, functions = _parser()
    assert sorted(functions) == ["compare", "evaluate", "export", "predict", "runs"]
    args = parser.parse_args(["evaluate", "results/x/1", "--split", "train", "--json", "--debug"])
    assert (args.command, args.run_dir, args.split, args.json, args.debug, args.data) == (
        "evaluate",
        Path("results/x/1"),
        "train",
        True,
        True,
        None,
    )
    args = parser.parse_args(["predict", "r", "--input", "in.csv", "--output", "out.parquet"])
    assert (args.input, args.output) == ([Path("in.csv")], Path("out.parquet"))
    images = parser.parse_args(["predict", "r", "--input", "a.png", "photos", "--output", "out.csv"])
    assert images.input == [Path("a.png"), Path("photos")]
    assert parser.parse_args(["export", "r"]).format == "torchscript"
    assert parser.parse_args(["export", "r", "--format", "onnx", "--output", "m.onnx"]).output == Path(
        "m.onnx"
    )
    args = parser.parse_args(["runs", "iris", "--results-dir", "elsewhere"])
    assert (args.experiment, args.results_dir) == ("iris", Path("elsewhere"))
    assert parser.parse_args(["runs"]).experiment is None
    args = parser.parse_args(["compare", "a", "b"])
    assert (args.run_a, args.run_b) == (Path("a"), Path("b"))
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", "r", "--input", "in.csv"])  # --output is required


def test_register_leaves_out_options_the_common_parent_has():
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--results-dir", type=Path)
    common.add_argument("--device")
    parser = argparse.ArgumentParser(prog="aiforge", parents=[common])
    register(parser.add_subparsers(dest="command"), common)  # no "conflicting option" error
    args = parser.parse_args(["evaluate", "r", "--device", "cpu", "--results-dir", "x"])
    assert (args.device, args.results_dir) == ("cpu", Path("x"))


def test_registering_imports_no_heavy_library(tmp_path):
    code = (
        "import argparse, sys\n"
        "from aiforge.cli.inference import register\n"
        "parser = argparse.ArgumentParser()\n"
        "register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))\n"
        "parser.format_help()\n"
        "print(sorted(m for m in ('torch', 'pandas', 'rich', 'torchmetrics') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
