"""`aiforge predict` with a damaged run folder or unusual input cells: exit 2 with a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from aiforge.cli import main
from aiforge.errors import DataError

IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


@pytest.fixture
def run_copy(iris_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(iris_run, copy)
    return copy


@pytest.fixture
def rows_csv(tmp_path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text(",".join(IRIS_FEATURES) + "\n" + ROWS, encoding="utf-8")
    return path


def _predict(
    run_dir: Path, input_path: Path, tmp_path: Path, capsys, name: str = "out.csv"
) -> tuple[int, str]:
    output = tmp_path / name
    code = main(["predict", str(run_dir), "--input", str(input_path), "--output", str(output)])
    return code, capsys.readouterr().err


def _rewrite_preprocessor(
    run_dir: Path, tensors: dict | None = None, json_changes: dict | None = None
) -> Path:
    path = run_dir / "preprocessor.safetensors"
    saved = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
    others = {**json.loads(metadata["json"]), **(json_changes or {})}
    save_file({**saved, **(tensors or {})}, str(path), metadata={**metadata, "json": json.dumps(others)})
    return path


# -- the saved preprocessor -------------------------------------------------------------------------
def test_a_method_name_in_the_preprocessor_metadata_is_refused(run_copy, rows_csv, tmp_path, capsys):
    # Regression: {"transform": 3} replaced the method; predict failed with "'int' object is not callable".
    path = _rewrite_preprocessor(run_copy, json_changes={"transform": 3})
    code, err = _predict(run_copy, rows_csv, tmp_path, capsys)
    assert code == 2 and str(path) in err and "'transform'" in err and "not callable" not in err


@pytest.mark.parametrize(
    ("tensors", "words"),
    [
        ({"shift": torch.zeros(3), "scale": torch.ones(3)}, "shape"),
        (
            {"shift": torch.zeros(4, dtype=torch.float64), "scale": torch.ones(4, dtype=torch.float64)},
            "float64",
        ),
    ],
)
def test_a_wrong_size_or_float64_tensor_is_refused_naming_the_file(
    run_copy, rows_csv, tmp_path, capsys, tensors, words
):
    # Regression: these failed later (exit 1) without naming preprocessor.safetensors.
    path = _rewrite_preprocessor(run_copy, tensors=tensors)
    code, err = _predict(run_copy, rows_csv, tmp_path, capsys)
    assert code == 2 and str(path) in err and words in err


def test_a_nan_scale_is_refused(run_copy, rows_csv, tmp_path, capsys):
    # Regression: predict exited 0 and wrote the first class with empty probabilities for every row.
    path = _rewrite_preprocessor(run_copy, tensors={"scale": torch.tensor([1.0, float("nan"), 1.0, 1.0])})
    code, err = _predict(run_copy, rows_csv, tmp_path, capsys)
    assert code == 2 and str(path) in err and "not finite" in err
    assert not (tmp_path / "out.csv").exists()


# -- the saved weights ------------------------------------------------------------------------------
def test_nan_weights_are_refused_naming_the_file(run_copy, rows_csv, tmp_path, capsys):
    # Regression: predict exited 0 and wrote the first class with empty probabilities for every row.
    path = run_copy / "final_model.pt"
    state = torch.load(path, weights_only=True)
    name = next(iter(state))
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, path)
    code, err = _predict(run_copy, rows_csv, tmp_path, capsys)
    assert code == 2 and str(path) in err and name in err and "not finite" in err
    assert not (tmp_path / "out.csv").exists()


def test_rows_whose_outputs_overflow_are_named(run_copy, tmp_path, capsys):
    # Finite inputs that the model turns into inf/NaN: the rows are reported, nothing is written.
    path = tmp_path / "huge.csv"
    path.write_text(",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n3e38,3e38,-3e38,3e38\n", encoding="utf-8")
    code, err = _predict(run_copy, path, tmp_path, capsys)
    assert code == 2 and "row 2 (line 3 of the file)" in err and "not finite" in err
    assert not (tmp_path / "out.csv").exists()


# -- input cells ------------------------------------------------------------------------------------
def _with_column(rows_csv: Path, values: list[str]) -> Path:
    """The rows with their first feature replaced by ``values``."""
    lines = rows_csv.read_text(encoding="utf-8").splitlines()
    out = [lines[0]] + [
        ",".join([v, *line.split(",")[1:]]) for v, line in zip(values, lines[1:], strict=True)
    ]
    rows_csv.write_text("\n".join(out) + "\n", encoding="utf-8")
    return rows_csv


@pytest.mark.parametrize("values", [["True", "True"], ["false", "TRUE"], ["0", "true"], ["1.5", "False"]])
def test_true_and_false_are_one_and_zero_in_any_mix(run_copy, rows_csv, tmp_path, capsys, values):
    # Regression: a column of True alone was read as 1.0, but false/TRUE mixed was an error at 'false'.
    text = rows_csv.read_text(encoding="utf-8")
    code, err = _predict(run_copy, _with_column(rows_csv, values), tmp_path, capsys, "words.csv")
    assert code == 0, err
    words = pd.read_csv(tmp_path / "words.csv", dtype=str)
    rows_csv.write_text(text, encoding="utf-8")
    numbers = [{"true": "1", "false": "0"}.get(v.lower(), v) for v in values]
    code, err = _predict(run_copy, _with_column(rows_csv, numbers), tmp_path, capsys, "numbers.csv")
    assert code == 0, err
    same = pd.read_csv(tmp_path / "numbers.csv", dtype=str)
    probabilities = [c for c in same.columns if c.startswith("prob_")]
    assert words[probabilities].equals(same[probabilities])


@pytest.mark.parametrize(("values", "bad"), [(["false", "yes"], "'yes'"), (["TRUE", "t"], "'t'")])
def test_other_words_are_not_numbers(run_copy, rows_csv, tmp_path, capsys, values, bad):
    # Regression: a column mixing false/TRUE/yes was rejected at 'false', which alone counts as 0.
    code, err = _predict(run_copy, _with_column(rows_csv, values), tmp_path, capsys)
    assert code == 2 and f"{bad} is not a number" in err and "row 2" in err


@pytest.mark.parametrize(
    ("values", "numbers"),
    [
        (["True", "False"], [1.0, 0.0]),
        (["false", "TRUE", "2.5"], [0.0, 1.0, 2.5]),
        (["tRuE", " false"], [1.0, 0.0]),
    ],
)
def test_as_numbers_is_the_one_rule(values, numbers):
    from aiforge.plugins.tabular.reading import as_numbers

    converted, bad = as_numbers(pd.Series(values, dtype=object))
    assert not bad.any() and converted.tolist() == numbers
    converted, bad = as_numbers(pd.Series([v.strip().lower() == "true" for v in values[:2]]))
    assert not bad.any() and converted.tolist() == numbers[:2]


def test_training_and_predict_read_booleans_alike(tmp_path):
    from aiforge.plugins.tabular.dataset import Dataset

    path = tmp_path / "train.csv"
    path.write_text("a,b,y\nfalse,1,x\nTRUE,2,y\ntrue,3,x\n0,4,y\n", encoding="utf-8")
    dataset = Dataset()
    dataset.load_data(str(path), target_column="y")
    assert dataset.features.numbers[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0]
    path.write_text("a,b,y\nfalse,1,x\nyes,2,y\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"column 'a' row 2 .*'yes' is not a number"):
        Dataset().load_data(str(path), target_column="y", column_types={"a": "number"})


def test_duplicate_column_names_are_refused(run_copy, tmp_path, capsys):
    # Regression: pandas renamed the second 'sepal length (cm)' to 'sepal length (cm).1' silently.
    path = tmp_path / "dup.csv"
    path.write_text(
        ",".join([*IRIS_FEATURES, IRIS_FEATURES[0]]) + "\n" + "5.1,3.5,1.4,0.2,9\n", encoding="utf-8"
    )
    code, err = _predict(run_copy, path, tmp_path, capsys)
    assert code == 2 and "more than once" in err and "'sepal length (cm)'" in err
