"""`aiforge predict`: raw feature columns in, labels and probabilities out, with clear column errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from trained_runs import quiet_settings

from aiforge.cli.inference import cmd_predict
from aiforge.errors import ConfigError, DataError
from aiforge.inference_commands.evaluate import evaluate_run
from aiforge.inference_commands.loading import load_run
from aiforge.inference_commands.predict import predict_frame, select_feature_columns

IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris_val_csv(iris_run, tmp_path_factory) -> tuple[Path, float]:
    """The run's validation rows as a CSV of raw features plus the true species; and evaluate's accuracy."""
    loaded = load_run(iris_run, quiet_settings(tmp_path_factory.mktemp("settings")))
    features = np.concatenate([b["features"].numpy() for b in loaded.orchestrator.raw_val_batches()])
    labels = np.concatenate([b["labels"].numpy() for b in loaded.orchestrator.raw_val_batches()])
    frame = pd.DataFrame(features, columns=loaded.orchestrator.feature_names())
    frame["species"] = np.array(loaded.class_names)[labels]
    path = tmp_path_factory.mktemp("input") / "val.csv"
    frame.to_csv(path, index=False)
    return path, evaluate_run(loaded)["metrics"]["accuracy"]


def _predict(run_dir: Path, input_path: Path, output_path: Path) -> pd.DataFrame:
    assert cmd_predict(argparse.Namespace(run_dir=run_dir, input=input_path, output=output_path)) == 0
    return pd.read_parquet(output_path) if output_path.suffix == ".parquet" else pd.read_csv(output_path)


def test_predictions_on_the_validation_rows_agree_with_evaluate(iris_run, iris_val_csv, tmp_path, capsys):
    input_path, evaluated_accuracy = iris_val_csv
    out = _predict(iris_run, input_path, tmp_path / "predictions.csv")
    assert "Wrote 30 predictions" in capsys.readouterr().out

    assert list(out.columns) == [
        *IRIS_FEATURES,
        "species",
        "prediction",
        "prob_setosa",
        "prob_versicolor",
        "prob_virginica",
    ]
    correct = int((out["prediction"] == out["species"]).sum())
    assert np.float32(correct) / np.float32(len(out)) == np.float32(evaluated_accuracy)
    probabilities = out[["prob_setosa", "prob_versicolor", "prob_virginica"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    best = np.array(["setosa", "versicolor", "virginica"])[probabilities.argmax(axis=1)]
    assert (best == out["prediction"].to_numpy()).all()


def test_string_labels_from_label_mapping_and_parquet(csv_run, tmp_path):
    loaded_data = pd.read_csv(load_run(csv_run, quiet_settings(tmp_path)).config.data_path)
    source = tmp_path / "rows.parquet"
    loaded_data.head(12)[
        ["segment", "tenure_years", "avg_basket", "age", "income_k", "visits_per_month"]
    ].to_parquet(source)
    out = _predict(csv_run, source, tmp_path / "out.parquet")
    classes = sorted(loaded_data["segment"].unique())
    assert list(out.columns[:6]) == [
        "segment",
        "tenure_years",
        "avg_basket",
        "age",
        "income_k",
        "visits_per_month",
    ]
    assert list(out.columns[6:]) == ["prediction", *(f"prob_{c}" for c in classes)]
    assert set(out["prediction"]) <= set(classes)
    assert len(out) == 12


def test_predictions_do_not_depend_on_column_order_or_extra_columns(csv_run, tmp_path):
    loaded = load_run(csv_run, quiet_settings(tmp_path))
    frame = pd.read_csv(loaded.config.data_path).head(20)
    plain = predict_frame(loaded, frame.drop(columns=["segment"]))
    shuffled = frame[list(reversed(frame.columns))].assign(note="x")
    other = predict_frame(loaded, shuffled)
    pd.testing.assert_series_equal(plain["prediction"], other["prediction"])


def _error(run_dir: Path, frame: pd.DataFrame, tmp_path: Path, suffix: str = ".csv") -> str:
    path = tmp_path / f"bad{suffix}"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        cmd_predict(argparse.Namespace(run_dir=run_dir, input=path, output=tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()
    return str(caught.value)


def test_a_missing_feature_column_is_named(iris_run, iris_val_csv, tmp_path):
    frame = pd.read_csv(iris_val_csv[0]).rename(columns={"petal width (cm)": "petal width (mm)"})
    message = _error(iris_run, frame, tmp_path)
    assert "feature column 'petal width (cm)' is missing (did you mean 'petal width (mm)'?)" in message
    assert "trained on the columns" in message


def test_a_non_numeric_value_names_its_column_and_row(iris_run, iris_val_csv, tmp_path):
    frame = pd.read_csv(iris_val_csv[0])
    frame["sepal width (cm)"] = frame["sepal width (cm)"].astype(object)
    frame.loc[2, "sepal width (cm)"] = "three"
    message = _error(iris_run, frame, tmp_path)
    assert "column 'sepal width (cm)' row 3 (line 4 of the file): 'three' is not a number" in message


def test_a_missing_value_names_its_column_and_row(iris_run, iris_val_csv, tmp_path):
    frame = pd.read_csv(iris_val_csv[0])
    frame.loc[4, "petal length (cm)"] = None
    message = _error(iris_run, frame, tmp_path)
    assert "missing value in column 'petal length (cm)' at row 5 (line 6 of the file)" in message


def test_an_existing_prediction_column_is_not_overwritten(iris_run, iris_val_csv, tmp_path):
    frame = pd.read_csv(iris_val_csv[0]).assign(prediction="mine")
    assert "already has column(s) ['prediction']" in _error(iris_run, frame, tmp_path)


def test_an_empty_input_is_a_data_error(iris_run, tmp_path):
    message = _error(iris_run, pd.DataFrame(columns=IRIS_FEATURES), tmp_path)
    assert "has no data rows" in message


def test_generic_feature_names_and_the_column_count():
    names = ["f0", "f1", "f2"]
    assert select_feature_columns(["f2", "x", "f0", "f1"], names, "in.csv") == names
    assert select_feature_columns(["a", "b", "c"], names, "in.csv") == ["a", "b", "c"]  # in order
    with pytest.raises(DataError, match=r"takes 3 feature columns .* but the file has 2: \['a', 'b'\]"):
        select_feature_columns(["a", "b"], names, "in.csv")
    with pytest.raises(DataError, match=r"feature column 'f2' is missing"):
        select_feature_columns(["f0", "f1", "z"], names, "in.csv")


def test_path_errors_come_before_loading(tmp_path):
    run = tmp_path / "not-loaded"
    (tmp_path / "in.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"--output .*out.xlsx: unsupported file type '.xlsx'"):
        cmd_predict(argparse.Namespace(run_dir=run, input=tmp_path / "in.csv", output=tmp_path / "out.xlsx"))
    # Not a table: files (images) or folders, which must exist.
    with pytest.raises(DataError, match=r"--input: not found: .*in.json"):
        cmd_predict(argparse.Namespace(run_dir=run, input=tmp_path / "in.json", output=tmp_path / "out.csv"))
    with pytest.raises(DataError, match=r"--input: file not found: .*missing.csv"):
        cmd_predict(
            argparse.Namespace(run_dir=run, input=tmp_path / "missing.csv", output=tmp_path / "o.csv")
        )
    with pytest.raises(ConfigError, match=r"the folder .*no_such_dir does not exist"):
        cmd_predict(
            argparse.Namespace(
                run_dir=run, input=tmp_path / "in.csv", output=tmp_path / "no_such_dir" / "o.csv"
            )
        )
