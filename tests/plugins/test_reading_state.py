"""The datasets' optional ``reading_state``/``restore_reading`` hooks: a fresh Dataset given the
loaded one's state reads a table of raw inputs into the same features, without the training data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aiforge.plugins.tabular.dataset import Dataset as TableDataset
from aiforge.plugins.text.dataset import Dataset as TextDataset

MIXED = "id,age,color,member,joined,flag,y\n" + "".join(
    f"u{i},{'' if i == 3 else 20 + i},{['red', 'blue', 'green'][i % 3]},{['true', 'FALSE'][i % 2]},"
    f"2024-01-{i + 1:02d},{i % 2},{'ab'[i % 2]}\n"
    for i in range(24)
)


def _same_table(left, right) -> None:
    assert left.number_names == right.number_names and left.category_names == right.category_names
    assert torch.equal(torch.nan_to_num(left.numbers, nan=-1.0), torch.nan_to_num(right.numbers, nan=-1.0))
    for a, b in zip(left.categories, right.categories, strict=True):
        assert list(a) == list(b)


def test_a_restored_tabular_dataset_reads_a_table_like_the_loaded_one(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(MIXED, encoding="utf-8")
    loaded = TableDataset()
    loaded.load_data(str(path))
    state = json.loads(json.dumps(loaded.reading_state()))  # JSON-able
    path.unlink()  # the fresh one never reads the data
    fresh = TableDataset()
    fresh.restore_reading(state)
    frame = pd.DataFrame(
        {"age": [33, None], "color": ["purple", None], "member": [True, None], "joined": ["2024-05-31", None]}
        | {"flag": [1, 0]}
    )
    _same_table(fresh.features_from_table(frame, "rows"), loaded.features_from_table(frame, "rows"))
    assert fresh.task == loaded.task and fresh.target_name == "y"


def test_a_restored_text_dataset_reads_the_text_column(tmp_path: Path) -> None:
    path = tmp_path / "texts.csv"
    path.write_text("id,review,sentiment\n1,Great phone,pos\n2,Awful kettle,neg\n", encoding="utf-8")
    loaded = TextDataset()
    loaded.load_data(str(path))
    state = json.loads(json.dumps(loaded.reading_state()))
    fresh = TextDataset()
    fresh.restore_reading(state)
    frame = pd.DataFrame({"review": ["Nice lamp", 12], "other": [1, 2]})
    assert fresh.features_from_table(frame, "rows") == loaded.features_from_table(frame, "rows")
    assert fresh.features_from_table(frame, "rows") == ["Nice lamp", "12"]


@pytest.mark.parametrize(
    "state",
    [
        {
            "column_kinds": {"a": "colour"},
            "feature_names": ["a"],
            "target_name": "y",
            "task": "classification",
        },
        {"column_kinds": {"a": "number"}, "feature_names": "a", "target_name": "y", "task": None},
        {
            "column_kinds": {"a": "number"},
            "feature_names": ["b"],
            "target_name": "y",
            "task": "classification",
        },
        {"column_kinds": {"a": "number"}, "feature_names": ["a"], "target_name": 3, "task": "classification"},
        {"column_kinds": {"a": "number"}, "feature_names": ["a"], "target_name": "y", "task": "ranking"},
        {"column_kinds": {"a": "number"}, "feature_names": ["a"]},
        [],
    ],
)
def test_a_bad_tabular_state_is_a_value_error(state: object) -> None:
    with pytest.raises(ValueError):
        TableDataset().restore_reading(state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "state",
    [
        {"text_column": None, "target_name": "y", "task": None},
        {"text_column": ["t"], "target_name": "y", "task": None},
        {"text_column": "t", "target_name": "y", "task": "sorting"},
        {"text_column": "t"},
        "t",
    ],
)
def test_a_bad_text_state_is_a_value_error(state: object) -> None:
    with pytest.raises(ValueError):
        TextDataset().restore_reading(state)  # type: ignore[arg-type]


def test_the_restored_state_is_the_state() -> None:
    state = {"column_kinds": {"a": "number", "b": "category"}, "feature_names": ["a", "b"]}
    state |= {"target_name": "y", "task": "regression"}
    fresh = TableDataset()
    fresh.restore_reading(state)
    assert fresh.reading_state() == state
    table = fresh.features_from_table(pd.DataFrame({"a": [1.5], "b": ["x"]}), "rows")
    assert table.numbers.tolist() == [[1.5]] and list(table.categories[0]) == ["x"]
    assert np.asarray(table.categories[0]).dtype == object
