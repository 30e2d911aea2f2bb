"""`aiforge evaluate`: the saved model and preprocessor reproduce a run's final metrics exactly."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from trained_runs import quiet_settings

from aiforge.cli.inference import cmd_evaluate
from aiforge.errors import CheckpointError, ConfigError, DataError
from aiforge.inference_commands.evaluate import evaluate_run
from aiforge.inference_commands.loading import load_run
from aiforge.inference_commands.predict import predict_frame


def _final(run_dir: Path) -> dict:
    return json.loads((run_dir / "final_results.json").read_text())


def test_evaluate_reproduces_the_final_metrics_exactly(iris_run, tmp_path):
    result = evaluate_run(load_run(iris_run, quiet_settings(tmp_path)))
    final = _final(iris_run)
    assert result["split"] == "val"
    assert result["samples"] == final["val_samples"] == 30
    assert result["loss"] == final["final_val_loss"]
    assert result["metrics"] == final["final_val_metrics"]
    assert result["matches_run_final"] is True


def test_evaluate_reproduces_a_tabular_run_exactly(csv_run, tmp_path):
    result = evaluate_run(load_run(csv_run, quiet_settings(tmp_path)))
    final = _final(csv_run)
    assert (result["loss"], result["metrics"]) == (final["final_val_loss"], final["final_val_metrics"])


def test_cmd_evaluate_prints_json_and_a_table(iris_run, capsys):
    assert cmd_evaluate(argparse.Namespace(run_dir=iris_run, json=True)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["loss"] == _final(iris_run)["final_val_loss"]
    assert set(printed["metrics"]) == {"accuracy", "f1"}

    assert cmd_evaluate(argparse.Namespace(run_dir=iris_run, split=None, data=None)) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "run's final" in out
    assert "Identical to the run's final validation loss and metrics" in out


def test_run_dir_relative_to_the_results_folder(iris_run, capsys):
    relative = Path(iris_run.parent.name) / iris_run.name
    args = argparse.Namespace(run_dir=relative, results_dir=iris_run.parents[1], json=True)
    assert cmd_evaluate(args) == 0
    assert json.loads(capsys.readouterr().out)["run_dir"] == str(iris_run)


def test_splits_train_and_all(iris_run, tmp_path):
    loaded = load_run(iris_run, quiet_settings(tmp_path))
    assert evaluate_run(loaded, "train")["samples"] == 120
    everything = evaluate_run(loaded, "all")
    assert everything["samples"] == 150
    assert "run_final" not in everything
    with pytest.raises(ConfigError, match=r"unknown split 'valid'.*did you mean 'val'"):
        evaluate_run(loaded, "valid")


def test_data_file_with_every_row_equals_split_all(csv_run, tmp_path):
    loaded = load_run(csv_run, quiet_settings(tmp_path))
    data = loaded.config.data_path
    on_file = evaluate_run(loaded, data=data)
    on_all = evaluate_run(loaded, "all")
    assert on_file["split"] is None and on_file["samples"] == on_all["samples"]
    assert (on_file["loss"], on_file["metrics"]) == (on_all["loss"], on_all["metrics"])


def test_data_file_with_fewer_classes_keeps_the_run_class_order(csv_run, tmp_path):
    loaded = load_run(csv_run, quiet_settings(tmp_path))
    frame = pd.read_csv(loaded.config.data_path)
    classes = sorted(frame["segment"].unique())
    subset = frame[frame["segment"] != classes[0]]  # the first class gone: indices would shift
    path = tmp_path / "subset.csv"
    subset.to_csv(path, index=False)

    result = evaluate_run(loaded, data=path)
    predicted = predict_frame(loaded, subset.reset_index(drop=True))
    correct = torch.tensor((predicted["prediction"] == predicted["segment"]).to_numpy())
    expected = correct.float().sum() / torch.tensor(float(len(correct)))
    assert result["samples"] == len(subset)
    assert result["metrics"]["accuracy"] == float(expected)


def test_data_file_with_an_unknown_label_is_a_data_error(csv_run, tmp_path):
    loaded = load_run(csv_run, quiet_settings(tmp_path))
    frame = pd.read_csv(loaded.config.data_path)
    frame.loc[0, "segment"] = "martian"
    path = tmp_path / "unknown.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"label\(s\) \['martian'\] are not among the run's classes"):
        evaluate_run(loaded, data=path)


def test_data_file_with_other_columns_is_a_data_error(csv_run, tmp_path):
    loaded = load_run(csv_run, quiet_settings(tmp_path))
    frame = pd.read_csv(loaded.config.data_path)
    path = tmp_path / "renamed.csv"
    frame.rename(columns={"age": "years"}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"feature columns are .*'years'.*trained on .*'age'"):
        evaluate_run(loaded, data=path)


def test_option_errors_come_before_loading(tmp_path):
    missing_run = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=r"--split chooses rows of the run's own data"):
        cmd_evaluate(argparse.Namespace(run_dir=missing_run, split="val", data=tmp_path / "x.csv"))
    with pytest.raises(DataError, match=r"--data: file not found: .*x.csv"):
        cmd_evaluate(argparse.Namespace(run_dir=missing_run, split=None, data=tmp_path / "x.csv"))


def test_missing_and_invalid_run_folders(iris_run, tmp_path):
    settings = quiet_settings(tmp_path)
    with pytest.raises(ConfigError, match=r"run folder not found: .*nowhere"):
        load_run(tmp_path / "nowhere", settings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"not an AIForge run folder: config.yaml is missing"):
        load_run(tmp_path / "empty", settings)
    with pytest.raises(ConfigError, match=f"holds the runs {iris_run.name}: give one of them"):
        load_run(iris_run.parent, settings)
    with pytest.raises(ConfigError, match=r"is a file"):
        load_run(iris_run / "config.yaml", settings)

    unfinished = tmp_path / "unfinished"
    shutil.copytree(iris_run, unfinished)
    (unfinished / "final_model.pt").unlink()
    with pytest.raises(ConfigError, match=r"has no final_model.pt: the run did not finish"):
        load_run(unfinished, settings)

    broken_config = tmp_path / "broken_config"
    shutil.copytree(iris_run, broken_config)
    (broken_config / "config.yaml").write_text("model_plugin: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML"):
        load_run(broken_config, settings)


def test_weights_that_do_not_fit_are_a_config_error(iris_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(iris_run, run)
    torch.save({"layer.weight": torch.zeros(2, 2)}, run / "final_model.pt")
    with pytest.raises(CheckpointError, match=r"the weights do not fit the model built from config.yaml"):
        load_run(run, quiet_settings(tmp_path))
    (run / "final_model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"cannot load the model weights"):
        load_run(run, quiet_settings(tmp_path))


def test_missing_preprocessor_is_a_config_error(iris_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(iris_run, run)
    (run / "preprocessor.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"has no preprocessor.safetensors"):
        load_run(run, quiet_settings(tmp_path))


def test_changed_data_cannot_reproduce_the_split(csv_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(csv_run, run)
    config_text = (run / "config.yaml").read_text()
    original = load_run(csv_run, quiet_settings(tmp_path)).config.data_path
    shorter = tmp_path / "shorter.csv"
    pd.read_csv(original).iloc[:-5].to_csv(shorter, index=False)
    (run / "config.yaml").write_text(config_text.replace(original, str(shorter)))
    with pytest.raises(DataError, match=r"now has \d+ rows, but the run trained on \d+.*pass it with --data"):
        load_run(run, quiet_settings(tmp_path))
