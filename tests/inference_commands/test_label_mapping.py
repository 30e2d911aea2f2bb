"""predict, evaluate and export refuse (exit 2, naming the file) a label_mapping.json that is not
what the run wrote: damaged, not a list of class names, or naming another number of classes than
the model has outputs. Regression: a wrong-length list was silently replaced by class indices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aiforge.cli import main

IRIS_ROWS = (
    "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
    "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n"
)

DAMAGES = {
    "not JSON": ("{\n", "cannot read"),
    "a bare list": (json.dumps(["setosa", "versicolor", "virginica"]), "not what a run writes"),
    "too few classes": (json.dumps({"task": "classification", "classes": ["a", "b"]}), "2 classes"),
    "too many classes": (
        json.dumps({"task": "classification", "classes": ["a", "b", "c", "d"]}),
        "4 classes",
    ),
    "not names": (json.dumps({"task": "classification", "classes": [{"a": 1}, None, [2]]}), "must be names"),
    "no classes": (json.dumps({"task": "classification", "classes": []}), "empty"),
}


@pytest.fixture
def damaged(iris_run: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A copy of the iris run whose label_mapping.json is damaged as the test's parameter says."""
    copy = tmp_path / "run"
    shutil.copytree(iris_run, copy)
    (copy / "label_mapping.json").write_text(DAMAGES[request.param][0], encoding="utf-8")
    return copy


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "label_mapping.json" in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
def test_predict_refuses_a_bad_label_mapping(
    damaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(IRIS_ROWS, encoding="utf-8")
    output = tmp_path / "out.csv"
    err = _refused(["predict", str(damaged), "--input", str(source), "--output", str(output)], capsys)
    assert DAMAGES[request.node.callspec.params["damaged"]][1] in err
    assert not output.exists()


@pytest.mark.parametrize("damaged", ["too few classes", "not names"], indirect=True)
def test_evaluate_refuses_a_bad_label_mapping(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _refused(["evaluate", str(damaged), "--json"], capsys)


@pytest.mark.parametrize("damaged", ["too many classes", "a bare list"], indirect=True)
def test_export_refuses_a_bad_label_mapping(damaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in damaged.iterdir())
    _refused(["export", str(damaged)], capsys)
    assert sorted(p.name for p in damaged.iterdir()) == before  # no export written


def test_the_class_names_the_run_wrote_still_name_the_outputs(
    iris_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "rows.csv", tmp_path / "out.csv"
    source.write_text(IRIS_ROWS, encoding="utf-8")
    assert main(["predict", str(iris_run), "--input", str(source), "--output", str(output)]) == 0
    header = output.read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith("prediction,prob_setosa,prob_versicolor,prob_virginica")


def test_numeric_class_names_of_older_runs_name_the_outputs(
    iris_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs before names were written as strings kept a plugin's numbers: they still predict."""
    copy = tmp_path / "run"
    shutil.copytree(iris_run, copy)
    (copy / "label_mapping.json").write_text(
        json.dumps({"task": "classification", "classes": [0, 1, 2]}), encoding="utf-8"
    )
    source = tmp_path / "rows.csv"
    source.write_text(IRIS_ROWS, encoding="utf-8")
    output = tmp_path / "out.csv"
    assert main(["predict", str(copy), "--input", str(source), "--output", str(output)]) == 0
    header = output.read_text(encoding="utf-8").splitlines()[0]
    assert "prob_0" in header and "prob_2" in header
