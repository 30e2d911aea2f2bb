"""The tabular plugin: reading the user's own CSV/Parquet, and errors that point at the bad cell."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

import aiforge
from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import ConfigError, DataError
from aiforge.plugins.tabular.dataset import Dataset

EXAMPLE_CSV = Path(aiforge.__path__[0]) / "examples" / "example_classification.csv"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path: Path | str | None, **args: object) -> Dataset:
    dataset = Dataset()
    dataset.load_data(None if path is None else str(path), **args)
    return dataset


def test_classification_with_string_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,kind\n1,2.5,dog\n3,4,cat\n5,6,emu\n7,8,cat\n")
    ds = load(path)
    assert ds.task == "classification"
    assert ds.class_names == ["cat", "dog", "emu"]
    assert ds.labels.dtype == torch.long
    assert ds.labels.tolist() == [1, 0, 2, 0]
    assert ds.features.numbers.dtype == torch.float32
    assert ds.features.numbers.shape == (4, 2)
    assert ds.features.numbers[0].tolist() == [1.0, 2.5]
    assert ds.feature_names == ["a", "b"]
    assert ds.target_name == "kind"
    assert len(ds) == 4


def test_float_target_is_regression(tmp_path: Path) -> None:
    ds = load(write(tmp_path, "x,y\n1,0.5\n2,1.25\n3,2.0\n"))
    assert ds.task == "regression"
    assert ds.class_names is None
    assert ds.labels.dtype == torch.float32
    assert ds.labels.shape == (3,)
    assert ds.labels.tolist() == [0.5, 1.25, 2.0]


def test_few_integer_values_are_classes_and_many_are_regression(tmp_path: Path) -> None:
    ds = load(write(tmp_path, "x,y\n1,10\n2,2\n3,10\n"))
    assert ds.task == "classification"
    assert ds.class_names == ["2", "10"]  # numeric order, not text order
    assert ds.labels.tolist() == [1, 0, 1]
    ds = load(write(tmp_path, "x,y\n1,10\n2,2\n3,7\n"), classification_max_classes=2)
    assert ds.task == "regression"


def test_forced_task(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,0.5\n2,1.5\n3,0.5\n")
    ds = load(path, task="classification")
    assert ds.task == "classification"
    assert ds.class_names == ["0.5", "1.5"]
    assert ds.labels.tolist() == [0, 1, 0]
    ds = load(write(tmp_path, "x,y\n1,0\n2,1\n3,1\n"), task="regression")
    assert ds.task == "regression"
    assert ds.labels.dtype == torch.float32
    with pytest.raises(DataError, match="task must be one of"):
        load(path, task="clustering")


def test_regression_target_must_be_numeric(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,2.0\n2,high\n")
    with pytest.raises(DataError, match=r"column 'y' row 2 \(line 3 of the file\): 'high' is not"):
        load(path, task="regression")


def test_explicit_target_and_feature_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "label,id,f1,f2\nno,100,1,2\nyes,101,3,4\n")
    ds = load(path, target_column="label", feature_columns=["f2", "f1"])
    assert ds.feature_names == ["f2", "f1"]
    assert ds.features.numbers.tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert ds.class_names == ["no", "yes"]
    assert ds.labels.tolist() == [0, 1]


def test_unknown_column_suggests_a_close_name(tmp_path: Path) -> None:
    path = write(tmp_path, "age,income,label\n1,2,a\n3,4,b\n")
    with pytest.raises(DataError, match=r"target column 'lable' not found \(did you mean 'label'\?\)"):
        load(path, target_column="lable")
    with pytest.raises(DataError, match=r"feature column 'incme'.*'age', 'income', 'label'"):
        load(path, feature_columns=["age", "incme"])


def test_missing_value_names_column_and_row(tmp_path: Path) -> None:
    path = write(tmp_path, "age,income,y\n1,2,a\n3,,b\n5,6,a\n")
    assert load(path).features.numbers[:, 1].isnan().tolist() == [False, True, False]  # a gap, filled later
    with pytest.raises(DataError, match="missing value in column 'y' at row 2"):
        load(write(tmp_path, "x,y\n1,a\n2,\n3,b\n"))


def test_non_numeric_value_names_column_row_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "age,y\n1,a\n2,b\nabc,a\n4,b\n")
    assert load(path).column_kinds == {"age": "category"}  # text makes a category column
    with pytest.raises(DataError, match=r"column 'age' row 3 \(line 4 of the file\): 'abc' is not a number"):
        load(path, column_types={"age": "number"})


def test_bool_features_are_zero_and_one(tmp_path: Path) -> None:
    ds = load(write(tmp_path, "flag,x,y\nTrue,1,a\nFalse,2,b\n"))
    assert ds.features.numbers.tolist() == [[1.0, 1.0], [0.0, 2.0]]


def test_ragged_rows_are_a_parse_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,y\n1,2,x\n3,4,y,extra\n")
    with pytest.raises(DataError, match=r"data\.csv could not be parsed.*Expected 3 fields"):
        load(path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        load(write(tmp_path, ""))
    with pytest.raises(DataError, match="no data rows"):
        load(write(tmp_path, "a,b,y\n", name="header.csv"))


def test_missing_file_directory_and_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs data_path"):
        load(None)
    with pytest.raises(DataError, match=r"data file not found: .*nope\.csv"):
        load(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'.*\.csv.*\.parquet"):
        load(write(tmp_path, "a,y\n1,2\n", name="data.xlsx"))


def test_single_class_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n1,a\n2,a\n")
    with pytest.raises(DataError, match="target column 'y' has a single class 'a'; classification needs"):
        load(path)


def test_tsv_and_delimiter_override(tmp_path: Path) -> None:
    ds = load(write(tmp_path, "x\ty\n1\ta\n2\tb\n", name="data.tsv"))
    assert ds.features.numbers.tolist() == [[1.0], [2.0]]
    ds = load(write(tmp_path, "x;y\n1;a\n2;b\n"), delimiter=";")
    assert ds.class_names == ["a", "b"]
    with pytest.raises(DataError, match="is the delimiter right"):
        load(tmp_path / "data.csv")


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "y": ["x", "z", "x"]})
    frame.to_parquet(path)
    ds = load(path)
    assert ds.features.numbers.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert ds.class_names == ["x", "z"]
    assert ds.labels.tolist() == [0, 1, 0]
    pd.DataFrame({"a": [1.0, None], "y": ["x", "z"]}).to_parquet(path)
    assert load(path).features.numbers[:, 0].isnan().tolist() == [False, True]


def test_bundled_example_loads() -> None:
    ds = load(EXAMPLE_CSV)
    assert ds.task == "classification"
    assert ds.class_names is not None and len(ds.class_names) >= 2
    assert ds.features.numbers.shape[1] >= 4
    assert len(ds) >= 150
    assert set(ds.labels.tolist()) == set(range(len(ds.class_names)))


def test_reading_items_leaves_stored_tensors_alone(tmp_path: Path) -> None:
    ds = load(write(tmp_path, "a,b,y\n1,2,p\n3,4,q\n"))
    before = ds.features.numbers.clone(), ds.labels.clone()
    item = ds[0]
    assert item["features"].numbers.tolist() == [[1.0, 2.0]]
    _ = [ds[i] for i in range(len(ds))], ds.as_tensors()
    assert torch.equal(ds.features.numbers, before[0])
    assert torch.equal(ds.labels, before[1])


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")

    def no_engine(*_: object, **__: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(DataError, match=r'pip install "aiforge\[parquet\]"'):
        load(path)


def test_infinite_feature_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"column 'x' row 2 \(line 3 of the file\): inf is not"):
        load(write(tmp_path, "x,y\n1,a\ninf,b\n"))


def test_misspelled_dataset_argument_is_a_config_error(tmp_path: Path) -> None:
    # Regression: load_data took **_, so target_colum was ignored and the last column used instead.
    path = write(tmp_path, "y,a,b\nx,1,2\nz,3,4\nx,5,6\nz,7,8\nx,9,10\n")
    config = ExperimentConfig(
        experiment_name="tabular_typo",
        model_plugin="simple_nn",
        dataset_plugin="tabular",
        data_path=str(path),
        dataset_args={"target_colum": "y"},
        training_config=TrainingConfig(epochs=1, batch_size=4),
    )
    orchestrator = Orchestrator(config, settings=AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu"))
    with pytest.raises(
        ConfigError,
        match=r"plugin 'tabular': .*'target_colum' \(did you mean 'target_column'\?\) "
        r"\(check dataset_args in the config\)",
    ):
        orchestrator.run_experiment()
    assert not list(tmp_path.rglob("metrics.csv"))


def test_na_text_is_a_class_and_an_empty_cell_is_missing(tmp_path: Path) -> None:
    # Regression: pandas read "NA" (North America) as a missing value, so the file was refused.
    ds = load(write(tmp_path, "x,region\n1,EU\n2,NA\n3,APAC\n4,NA\n5,EU\n"))
    assert ds.task == "classification"
    assert ds.class_names == ["APAC", "EU", "NA"]
    assert ds.labels.tolist() == [1, 2, 0, 2, 1]
    with pytest.raises(DataError, match=r"missing value in column 'region' at row 2 \(line 3 of the file\)"):
        load(write(tmp_path, "x,region\n1,EU\n2,\n3,NA\n"))
