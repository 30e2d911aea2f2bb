"""Column kinds of the tabular plugin: inference, column_types overrides, RawTable, raw predict rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aiforge.errors import DataError
from aiforge.plugins.tabular.columns import RawTable, date_parts, infer_kind
from aiforge.plugins.tabular.dataset import Dataset

MIXED = "id,age,color,member,joined,flag,y\n" + "".join(
    f"u{i},{'' if i == 3 else 20 + i},{['red', 'blue', 'green'][i % 3]},{['true', 'FALSE'][i % 2]},"
    f"2024-01-{i + 1:02d},{i % 2},{'ab'[i % 2]}\n"
    for i in range(24)
)


def load(tmp_path: Path, text: str, **args: object) -> Dataset:
    path = tmp_path / "data.csv"
    path.write_text(text)
    dataset = Dataset()
    dataset.load_data(str(path), **args)
    return dataset


def test_kinds_are_inferred(tmp_path: Path) -> None:
    ds = load(tmp_path, MIXED)
    assert ds.column_kinds == {
        "id": "ignore",  # a different text in every row: an id
        "age": "number",
        "color": "category",
        "member": "boolean",
        "joined": "date",
        "flag": "number",  # 0/1 stays a number
    }
    table = ds.features
    assert table.category_names == ["color"]
    assert table.number_names == [
        "age",
        "member",
        "joined.year",
        "joined.month",
        "joined.day_of_week",
        "joined.day_of_year",
        "flag",
    ]
    assert ds.feature_names == ["id", "age", "color", "member", "joined", "flag"]  # the raw columns
    assert torch.isnan(table.numbers[3, 0]) and not torch.isnan(table.numbers[2, 0])
    assert table.numbers[:2, 1].tolist() == [1.0, 0.0]
    assert table.numbers[0, 2:6].tolist() == [2024.0, 1.0, 0.0, 1.0]  # 2024-01-01 was a Monday
    assert list(table.categories[0][:3]) == ["red", "blue", "green"]


def test_a_table_of_text_booleans_and_gaps_loads(tmp_path: Path) -> None:
    ds = load(tmp_path, "city,member,score,y\nRome,true,,a\n,false,2,b\nOslo,,3,a\nRome,true,4,b\n")
    assert ds.column_kinds == {"city": "category", "member": "boolean", "score": "number"}
    assert list(ds.features.categories[0]) == ["Rome", None, "Oslo", "Rome"]
    assert torch.isnan(ds.features.numbers).tolist() == [
        [False, True],
        [False, False],
        [True, False],
        [False, False],
    ]


def test_column_types_override_the_inference(tmp_path: Path) -> None:
    ds = load(tmp_path, MIXED, column_types={"id": "category", "flag": "category", "joined": "ignore"})
    assert ds.column_kinds["id"] == "category" and ds.column_kinds["joined"] == "ignore"
    assert ds.features.category_names == ["id", "color", "flag"]
    assert list(ds.features.categories[2][:3]) == ["0", "1", "0"]  # numbers as text levels
    assert not any(name.startswith("joined") for name in ds.features.number_names)


def test_bad_column_types_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"column_types names column 'colour'.*did you mean 'color'"):
        load(tmp_path, MIXED, column_types={"colour": "category"})
    with pytest.raises(
        DataError, match=r"'color' has kind 'categroy'.*did you mean 'category'.*number, category"
    ):
        load(tmp_path, MIXED, column_types={"color": "categroy"})
    with pytest.raises(DataError, match="column_types must be a mapping"):
        load(tmp_path, MIXED, column_types=["color"])
    with pytest.raises(
        DataError, match=r"column 'color' row 1 \(line 2 of the file\): 'red' is not a number"
    ):
        load(tmp_path, MIXED, column_types={"color": "number"})
    with pytest.raises(DataError, match=r"column 'color' row 1 .*'red' is not an ISO date"):
        load(tmp_path, MIXED, column_types={"color": "date"})


def test_infer_kind_rules() -> None:
    def kind(*values: object) -> str:
        return infer_kind(np.array(values, dtype=object), was_bool=False)

    assert kind("1", "2.5", None) == "number"
    assert kind("false", "TRUE", "2") == "number"  # true/false among numbers are 1/0
    assert kind("True", None, "false") == "boolean"
    assert kind("2024-01-01", "2023-12-31T10:00:00", None) == "date"
    assert kind("2024-02-31", "2024-01-01") == "category"  # not a real date
    assert kind("a", "b", "a") == "category"
    assert kind(*(f"x{i}" for i in range(19))) == "category"  # too few rows to call it an id
    assert kind(*(f"x{i}" for i in range(20))) == "ignore"


def test_date_parts_and_a_bad_date() -> None:
    parts, bad = date_parts(np.array(["2024-12-31", None], dtype=object))
    assert bad is None and parts[0].tolist() == [2024.0, 12.0, 1.0, 366.0] and np.isnan(parts[1]).all()
    assert date_parts(np.array(["2024-01-01", "soon"], dtype=object))[1] == 1


def test_raw_table_takes_rows_by_index_and_slice() -> None:
    table = RawTable(
        torch.arange(8.0).reshape(4, 2), ["a", "b"], [np.array(list("wxyz"), dtype=object)], ["c"]
    )
    picked = table[torch.tensor([3, 0])]
    assert isinstance(picked, RawTable) and len(picked) == 2
    assert picked.numbers.tolist() == [[6.0, 7.0], [0.0, 1.0]] and list(picked.categories[0]) == ["z", "w"]
    sliced = table[1:3]
    assert sliced.numbers.tolist() == [[2.0, 3.0], [4.0, 5.0]] and list(sliced.categories[0]) == ["x", "y"]
    with pytest.raises(ValueError, match="numbers must be"):
        RawTable(torch.zeros(2, 3), ["a"])


def test_features_from_table_reads_with_the_training_kinds(tmp_path: Path) -> None:
    ds = load(tmp_path, MIXED)
    frame = pd.DataFrame(
        {"age": [30, None], "color": ["purple", None], "member": [True, None], "joined": ["2024-05-31", None]}
        | {"flag": [1, 0], "extra": ["kept", "aside"]}
    )  # no id column: it is ignored
    table = ds.features_from_table(frame, "rows.csv")
    assert table.number_names == ds.features.number_names and table.category_names == ["color"]
    assert table.numbers[0].tolist()[:6] == [30.0, 1.0, 2024.0, 5.0, 4.0, 152.0]
    assert torch.isnan(table.numbers[1, :6]).all() and list(table.categories[0]) == ["purple", None]
    with pytest.raises(
        DataError, match=r"rows.csv: column 'age' row 2 \(line 3 of the file\): 'old' is not a number"
    ):
        ds.features_from_table(frame.assign(age=["31", "old"]), "rows.csv")
    with pytest.raises(DataError, match=r"feature column 'color' is missing.*trained on the columns"):
        ds.features_from_table(frame.drop(columns=["color"]), "rows.csv")
