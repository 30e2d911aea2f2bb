"""Tabular column kinds that must not change silently: dates from Parquet, NA words, near-misses."""

from __future__ import annotations

import warnings as python_warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aiforge.errors import ArgumentError, DataError
from aiforge.plugins.tabular.dataset import Dataset
from aiforge.plugins.tabular.encoding import TableEncoder, as_raw_table


def load(path: Path, **args: object) -> Dataset:
    dataset = Dataset()
    dataset.load_data(str(path), **args)
    return dataset


def csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_a_parquet_datetime_column_with_a_gap_is_a_date(tmp_path: Path, tz: str | None) -> None:
    pytest.importorskip("pyarrow")
    when = pd.Series(pd.date_range("2018-06-01", periods=30, freq="D", tz=tz))
    when[4] = pd.NaT
    frame = pd.DataFrame({"when": when, "x": np.arange(30.0), "y": [0, 1] * 15})
    frame.to_parquet(tmp_path / "d.parquet")
    ds = load(tmp_path / "d.parquet")
    assert ds.column_kinds["when"] == "date"
    assert ds.features.number_names[:4] == ["when.year", "when.month", "when.day_of_week", "when.day_of_year"]
    assert torch.isnan(ds.features.numbers[4, :4]).all()
    assert ds.features.numbers[5, :4].tolist() == [2018.0, 6.0, 2.0, 157.0]
    rows = ds.features_from_table(frame.iloc[[3, 4, 5]], "new.parquet")  # predict: NaT is a gap
    assert torch.isnan(rows.numbers[1, :4]).all() and rows.numbers[2, 0] == 2018.0


def test_date_texts_with_a_time_part_and_a_zone_are_dates(tmp_path: Path) -> None:
    stamps = ["2024-05-31T12:30:00Z", "2024-06-01 08:00", "2024-06-02T23:59:59+02:00", "2024-06-03"]
    ds = load(csv(tmp_path, pd.DataFrame({"d": stamps * 3, "y": [0, 1] * 6})))
    assert ds.column_kinds["d"] == "date"
    assert ds.features.numbers[2, :2].tolist() == [2024.0, 6.0]


@pytest.mark.parametrize("word", ["NaN", "nan", "NA", "N/A", "null", "NULL", "None"])
def test_missing_value_words_are_gaps_in_numbers_dates_and_booleans(tmp_path: Path, word: str) -> None:
    frame = pd.DataFrame(
        {
            "n": [word if i == 2 else str(i) for i in range(12)],
            "d": [word if i == 3 else f"2024-01-{i + 1:02d}" for i in range(12)],
            "b": [word if i == 4 else ["true", "false"][i % 2] for i in range(12)],
            "y": [0, 1] * 6,
        }
    )
    ds = load(csv(tmp_path, frame))
    assert ds.column_kinds == {"n": "number", "d": "date", "b": "boolean"}
    names = ds.features.number_names
    assert torch.isnan(ds.features.numbers[2, names.index("n")])
    assert torch.isnan(ds.features.numbers[3, names.index("d.year")])
    assert torch.isnan(ds.features.numbers[4, names.index("b")])
    rows = ds.features_from_table(frame.iloc[[2, 3, 4]].astype(object), "new.csv")  # predict alike
    assert torch.isnan(rows.numbers[0, names.index("n")]) and torch.isnan(rows.numbers[2, names.index("b")])


def test_one_impossible_date_among_dates_is_an_error_not_a_category(tmp_path: Path) -> None:
    days = [f"2020-02-{i + 1:02d}" for i in range(28)] + ["2020-02-30"]
    path = csv(tmp_path, pd.DataFrame({"d": days, "y": [0, 1] * 14 + [0]}))
    with pytest.raises(DataError) as err:
        load(path)
    message = str(err.value)
    assert "'d'" in message and "row 29" in message and "2020-02-30" in message
    assert "column_types" in message and "category" in message
    assert load(path, column_types={"d": "category"}).column_kinds["d"] == "category"


def test_one_text_among_numbers_is_an_error_not_a_category(tmp_path: Path) -> None:
    values = [str(i) for i in range(20)]
    values[7] = "12,5"
    with pytest.raises(DataError, match=r"'n'.*row 8.*'12,5'.*column_types"):
        load(csv(tmp_path, pd.DataFrame({"n": values, "y": [0, 1] * 10})))


def test_a_column_empty_throughout_is_ignored_with_one_warning(tmp_path: Path, warnings: list[str]) -> None:
    frame = pd.DataFrame({"e": [""] * 6, "x": np.arange(6.0), "y": [0, 1] * 3})
    ds = load(csv(tmp_path, frame))
    assert ds.column_kinds["e"] == "ignore"
    assert "e" not in ds.features.number_names
    said = [m for m in warnings if "'e'" in m]
    assert len(said) == 1 and "empty" in said[0], warnings


def test_no_number_column_fits_without_a_torch_warning() -> None:
    from aiforge.plugins.tabular.columns import RawTable

    table = RawTable(torch.empty(4, 0), [], [np.array(["a", "b", "a", None], dtype=object)], ["c"])
    with python_warnings.catch_warnings():
        python_warnings.simplefilter("error")
        encoder = TableEncoder()
        encoder.fit(table)
        assert encoder.encode(table).shape == (4, 4)


def test_yaml_yes_for_missing_indicators_says_what_yaml_did() -> None:
    table = as_raw_table(torch.ones(3, 2))
    with pytest.raises(ArgumentError, match=r"auto, always or never.*YAML.*quote"):
        TableEncoder().fit(table, missing_indicators=True)  # type: ignore[arg-type]


def test_predict_type_error_says_the_run_was_trained_with_a_number(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": np.arange(6.0), "y": [0, 1] * 3})
    ds = load(csv(tmp_path, frame))
    with pytest.raises(DataError) as err:
        ds.features_from_table(pd.DataFrame({"n": ["1", "abc"]}), "new.csv")
    message = str(err.value)
    assert "trained" in message and "number" in message and "dataset_args.column_types" not in message


def test_as_raw_table_traces_without_a_fixed_batch_size() -> None:
    traced = torch.jit.trace(lambda x: as_raw_table(x).numbers * 2, torch.ones(3, 2, 2))
    assert traced(torch.ones(5, 2, 2)).shape == (5, 4)
    assert as_raw_table(torch.ones(5)).numbers.shape == (5, 1)
