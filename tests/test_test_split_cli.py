"""The held-out test split end to end: `aiforge run` scores the best model once on it, and
`aiforge evaluate --split test`, `aiforge runs` and the report show the same numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from aiforge.cli import main

pytestmark = pytest.mark.slow

IRIS = {
    "experiment_name": "held_out",
    "model_plugin": "simple_nn",
    "dataset_plugin": "iris",
    "model_config": {"hidden_dim": 8},
    "training_config": {"epochs": 3, "batch_size": 16, "learning_rate": 0.05},
    "test_fraction": 0.2,
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIFORGE_LOG_LEVEL": "INFO", "AIFORGE_TRACKING": "false"}
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def only_run_dir(root: Path, experiment: str) -> Path:
    (run_dir,) = [p for p in (root / "results" / experiment).iterdir() if p.is_dir()]
    return run_dir


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "final_results.json").read_text())


@pytest.fixture(scope="module")
def fraction_run(tmp_path_factory) -> Path:
    """iris with 20% of the rows held out as the test split, trained by the CLI."""
    root = tmp_path_factory.mktemp("fraction")
    done = run_cli("run", str(write_yaml(root / "exp.yaml", IRIS)), cwd=root)
    assert done.returncode == 0, done.stderr
    return only_run_dir(root, "held_out")


def test_a_run_scores_the_test_rows_once_at_the_end(fraction_run):
    final = results_of(fraction_run)
    assert (final["train_samples"], final["val_samples"], final["test_samples"]) == (90, 30, 30)
    assert isinstance(final["test_loss"], float)
    assert set(final["test_metrics"]) == set(final["final_val_metrics"]) == {"accuracy", "f1"}
    log = (fraction_run / "aiforge_debug.log").read_text()
    assert "Test loss" in log and "30 test rows" in log
    report = (fraction_run / "report.html").read_text()
    assert "test (held out)" in report and f"<td>{final['test_loss']:.4f}</td>" in report
    config = yaml.safe_load((fraction_run / "config.yaml").read_text())
    assert config["test_fraction"] == 0.2


def test_evaluate_split_test_reproduces_the_test_metrics_exactly(fraction_run):
    final = results_of(fraction_run)
    done = run_cli("evaluate", str(fraction_run), "--split", "test", "--json", cwd=fraction_run)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["split"] == "test" and printed["samples"] == 30
    assert printed["loss"] == final["test_loss"]
    assert printed["metrics"] == final["test_metrics"]
    assert printed["matches_run_final"] is True
    done = run_cli("evaluate", str(fraction_run), "--split", "test", cwd=fraction_run)
    assert done.returncode == 0, done.stderr
    assert "Identical to the run's final test loss and metrics" in done.stdout


def test_evaluate_split_val_still_matches_with_a_test_split(fraction_run, capsys):
    assert main(["evaluate", str(fraction_run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["loss"] == results_of(fraction_run)["final_val_loss"]
    assert printed["matches_run_final"] is True


def test_runs_shows_test_columns_only_for_runs_with_test_rows(fraction_run, tmp_path, capsys):
    from aiforge.inference_commands.runs import list_runs, runs_table

    results_dir = fraction_run.parents[1]
    assert main(["runs", "--results-dir", str(results_dir), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    final = results_of(fraction_run)
    assert row["test_loss"] == final["test_loss"] and row["test_metrics"] == final["test_metrics"]
    table = runs_table(list_runs(results_dir), "runs")
    headers = [column.header for column in table.columns]
    assert "test_loss" in headers and "test_accuracy" in headers

    plain = tmp_path / "results" / "plain" / "20000101-000000-abcdef"
    plain.mkdir(parents=True)
    (plain / "config.yaml").write_text("experiment_name: plain\n")
    without = {k: v for k, v in final.items() if not k.startswith("test_")}
    (plain / "final_results.json").write_text(json.dumps(without))
    (summary,) = list_runs(tmp_path / "results")
    assert not any(key.startswith("test_") for key in summary)
    headers = [column.header for column in runs_table([summary], "runs").columns]
    assert not any(header.startswith("test_") for header in headers)


def test_a_test_file_beside_the_config_is_scored(tmp_path):
    source = Path(str(resources.files("aiforge") / "examples" / "example_classification.csv"))
    lines = source.read_text().splitlines()
    (tmp_path / "train.csv").write_text("\n".join(lines[:201]) + "\n")  # header + 200 rows
    (tmp_path / "test.csv").write_text("\n".join([lines[0], *lines[201:]]) + "\n")  # 40 rows
    config = {
        "experiment_name": "test_file",
        "model_plugin": "simple_nn",
        "dataset_plugin": "tabular",
        "data_path": "train.csv",
        "test_data_path": "test.csv",
        "dataset_args": {"target_column": "segment"},
        "model_config": {"hidden_dim": 8},
        "training_config": {"epochs": 2, "batch_size": 32},
    }
    folder = tmp_path / "configs"
    folder.mkdir()
    shutil.move(tmp_path / "train.csv", folder / "train.csv")
    shutil.move(tmp_path / "test.csv", folder / "test.csv")
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = run_cli("run", str(write_yaml(folder / "exp.yaml", config)), cwd=workdir)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(workdir, "test_file")
    final = results_of(run_dir)
    assert (final["train_samples"], final["val_samples"], final["test_samples"]) == (160, 40, 40)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["test_data_path"] == str((folder / "test.csv").resolve())
    done = run_cli("evaluate", str(run_dir), "--split", "test", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["loss"], printed["metrics"]) == (final["test_loss"], final["test_metrics"])
    assert printed["samples"] == 40


@pytest.mark.parametrize(
    ("extra", "keys"),
    [
        ({"test_fraction": 0.5, "val_fraction": 0.5}, ("test_fraction", "val_fraction")),
        ({"test_fraction": 0.2, "test_data_path": "t.csv"}, ("test_fraction", "test_data_path")),
        ({"test_fraction": 1.0}, ("test_fraction",)),
    ],
)
def test_bad_combinations_exit_2_naming_the_keys(tmp_path, monkeypatch, capsys, extra, keys):
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", str(tmp_path / "results"))
    config = write_yaml(tmp_path / "bad.yaml", {**IRIS, **extra})
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert all(key in err for key in keys), err
    assert not (tmp_path / "results").exists()


def test_a_missing_test_file_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", str(tmp_path / "results"))
    source = Path(str(resources.files("aiforge") / "examples" / "example_classification.csv"))
    shutil.copy(source, tmp_path / "train.csv")
    config = {
        "experiment_name": "missing_test",
        "model_plugin": "simple_nn",
        "dataset_plugin": "tabular",
        "data_path": "train.csv",
        "test_data_path": "nowhere.csv",
        "training_config": {"epochs": 1},
    }
    assert main(["run", str(write_yaml(tmp_path / "exp.yaml", config))]) == 2
    assert "test_data_path" in capsys.readouterr().err


def test_evaluate_split_test_without_test_rows_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", str(tmp_path / "results"))
    config = {k: v for k, v in IRIS.items() if k != "test_fraction"}
    config["training_config"] = {"epochs": 1, "batch_size": 16}
    assert main(["run", str(write_yaml(tmp_path / "exp.yaml", config))]) == 0
    run_dir = only_run_dir(tmp_path, "held_out")
    assert not any(key.startswith("test_") for key in results_of(run_dir))
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert "test" in err and "test_fraction" in err


@pytest.mark.parametrize("test_path", ["nowhere.csv", "a_folder"])
def test_a_test_file_that_is_not_a_file_exits_2_even_for_a_plugin_that_reads_no_file(
    tmp_path, monkeypatch, capsys, test_path
):
    """simple_nn makes its rows and ignores paths: without the check its training rows would be
    scored as the "test" rows."""
    monkeypatch.setenv("AIFORGE_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_folder").mkdir()
    config = {
        "experiment_name": "not_a_test_file",
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": 40, "input_dim": 4},
        "test_data_path": test_path,
        "training_config": {"epochs": 1},
    }
    assert main(["run", str(write_yaml(tmp_path / "exp.yaml", config))]) == 2
    err = capsys.readouterr().err
    assert "test_data_path" in err and ("is a folder" in err or "does not exist" in err)
