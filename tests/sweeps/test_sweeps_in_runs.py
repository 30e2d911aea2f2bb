"""`aiforge runs` lists sweeps (after the runs, or alone with --sweeps) and `aiforge compare` takes
sweep folders (each stands for its best trial's run); a results folder without sweeps lists as before."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from sweep_files import SPACE

from aiforge.cli.inference import cmd_compare, cmd_runs
from aiforge.config.settings import AppSettings
from aiforge.errors import ConfigError
from aiforge.inference_commands.runs import list_sweeps
from aiforge.sweeps import Sweep
from plugin_builders import tiny_experiment


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> tuple[Path, Path, Path, dict, dict]:
    """Two finished sweeps of one experiment (studies a and b) and one that has no trial yet."""
    root = tmp_path_factory.mktemp("sweeps_in_runs") / "results"
    settings = AppSettings(RESULTS_DIR=root, DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
    records = []
    for study, rate in (("study_a", 0.005), ("study_b", 0.05)):
        space = {**SPACE, "training_config.learning_rate": {"type": "categorical", "choices": [rate]}}
        sweep = {"trials": 2, "metric": "accuracy", "space": space, "study_name": study}
        records.append(Sweep(tiny_experiment("swept"), sweep, settings=settings).run())
    waiting = root / "swept" / "sweeps" / "study_c"
    waiting.mkdir(parents=True)
    (waiting / "sweep_config.yaml").write_text("experiment_name: swept\nsweep:\n  trials: 5\n")
    folders = root / "swept" / "sweeps"
    return root, folders / "study_a", folders / "study_b", records[0], records[1]


def test_runs_lists_the_sweeps_after_the_runs(sweeps, capsys) -> None:
    root, folder_a, _, record_a, _ = sweeps
    assert cmd_runs(argparse.Namespace(results_dir=root, experiment=None)) == 0
    out = capsys.readouterr().out
    assert out.index("Runs in") < out.index("Sweeps in")
    for text in ("study_a", "study_b", "study_c", "2/2", "0/5", "val_accuracy"):
        assert text in out
    trial_runs = sorted((root / "swept").glob("2*"))
    assert len(trial_runs) == 4 and all(run.name in out for run in trial_runs)  # listed as runs

    assert cmd_runs(argparse.Namespace(results_dir=root, experiment=None, json=True)) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 4 and all("id" in run for run in runs)  # the JSON of runs is unchanged

    assert cmd_runs(argparse.Namespace(results_dir=root, experiment="swept", json=True, sweeps=True)) == 0
    listed = {row["study"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(listed) == ["study_a", "study_b", "study_c"]
    assert (listed["study_a"]["trials_finished"], listed["study_a"]["trials_requested"]) == (2, 2)
    assert listed["study_a"]["best_value"] == record_a["best_value"]
    assert listed["study_a"]["folder"] == str(folder_a)
    assert (listed["study_c"]["trials_finished"], listed["study_c"]["trials_requested"]) == (0, 5)
    assert listed["study_c"]["best_value"] is None


def test_a_results_folder_without_sweeps_lists_as_before(sweeps, tmp_path, capsys) -> None:
    _, _, _, record_a, _ = sweeps
    run = Path(record_a["best_run_dir"])
    shutil.copytree(run, tmp_path / "results" / "swept" / run.name)
    assert list_sweeps(tmp_path / "results") == []
    assert cmd_runs(argparse.Namespace(results_dir=tmp_path / "results", experiment=None)) == 0
    out = capsys.readouterr().out
    assert run.name in out and "Sweeps" not in out and "sweep" not in out
    assert cmd_runs(argparse.Namespace(results_dir=tmp_path / "results", sweeps=True)) == 0
    assert "No sweeps in" in capsys.readouterr().out


def test_compare_two_sweeps_compares_their_best_trials(sweeps, capsys) -> None:
    root, folder_a, folder_b, record_a, record_b = sweeps
    relative_b = Path("swept") / "sweeps" / "study_b"
    args = argparse.Namespace(run_a=folder_a, run_b=relative_b, results_dir=root, json=True)
    assert cmd_compare(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["run_a"], result["run_b"]) == (record_a["best_run_dir"], record_b["best_run_dir"])
    config = {row["key"]: (row["a"], row["b"]) for row in result["config"]}
    assert config["training_config.learning_rate"] == (0.005, 0.05)
    metrics = {row["name"]: row for row in result["metrics"]}
    assert (metrics["val_accuracy"]["a"], metrics["val_accuracy"]["b"]) == (
        record_a["best_value"],
        record_b["best_value"],
    )
    assert result["sweeps"]["a"]["best_trial"] == record_a["best_trial"]
    assert result["sweeps"]["b"]["study"] == "study_b"

    assert cmd_compare(argparse.Namespace(run_a=folder_a, run_b=folder_b)) == 0
    out = capsys.readouterr().out
    assert "A: sweep study_a" in out and "B: sweep study_b" in out and "best trial" in out
    assert "training_config.learning_rate" in out and "delta (B - A)" in out


def test_compare_a_sweep_without_a_complete_trial_is_an_error(sweeps) -> None:
    root, folder_a, _, _, _ = sweeps
    with pytest.raises(ConfigError, match=r"study_c has no complete trial yet"):
        cmd_compare(argparse.Namespace(run_a=folder_a, run_b=root / "swept" / "sweeps" / "study_c"))
