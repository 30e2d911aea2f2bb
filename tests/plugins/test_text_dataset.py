"""The text dataset plugin: a table of texts and labels, checked row by row."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import torch

from aiforge.errors import ArgumentError, DataError
from aiforge.plugins.text.dataset import Dataset
from log_capture import logged_messages

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "aiforge" / "examples"


@pytest.fixture
def warnings_logged():
    yield from logged_messages("WARNING")


def write(tmp_path: Path, text: str, name: str = "texts.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(path: str, **args) -> Dataset:
    dataset = Dataset()
    dataset.load_data(path, **args)
    return dataset


GOOD = "id,review,stars,sentiment\n1,Great phone,5,pos\n2,Awful kettle,1,neg\n3,Fine lamp,4,pos\n"


def test_defaults_pick_the_first_text_column_and_the_last_column_as_label(tmp_path):
    dataset = load(write(tmp_path, GOOD))
    assert dataset.text_column == "review" and dataset.target_name == "sentiment"
    assert dataset.task == "classification" and dataset.class_names == ["neg", "pos"]
    assert len(dataset) == 3
    item = dataset[1]
    assert item["features"] == "Awful kettle"
    assert torch.equal(item["labels"], torch.tensor(0))
    assert dataset.as_tensors() is None  # texts take the DataLoader path


def test_named_columns_and_regression(tmp_path):
    dataset = load(write(tmp_path, GOOD), text_column="review", label_column="stars", task="regression")
    assert dataset.task == "regression" and dataset.class_names is None
    assert dataset.labels.dtype == torch.float32 and dataset.labels.tolist() == [5.0, 1.0, 4.0]


def test_numbers_in_the_text_column_are_read_as_text(tmp_path):
    dataset = load(write(tmp_path, "t,y\n12,a\nabc,b\n"), text_column="t")
    assert dataset.texts == ["12", "abc"]


def test_tab_separated_file(tmp_path):
    dataset = load(write(tmp_path, "text\tlabel\nnice one\t1\nbad one\t0\n", "texts.tsv"))
    assert dataset.texts == ["nice one", "bad one"] and dataset.class_names == ["0", "1"]


def test_an_empty_text_is_an_error_naming_its_row(tmp_path):
    path = write(tmp_path, 'text,label\nfine,a\n"   ",b\nok,a\n')
    with pytest.raises(
        DataError, match=r"empty text in column 'text' at row 2 \(line 3 of the file\).*on_bad_item"
    ):
        load(path)


def test_a_missing_label_is_an_error_naming_its_row(tmp_path):
    with pytest.raises(DataError, match=r"label column 'label' at row 3"):
        load(write(tmp_path, "text,label\nfine,a\nbad,b\nok,\n"))


def test_bad_rows_are_skipped_and_counted_with_one_warning(tmp_path, warnings_logged):
    path = write(tmp_path, 'text,label\nfine,a\n"",b\nok,\ngood,b\n')
    dataset = load(path, on_bad_item="skip")
    assert dataset.texts == ["fine", "good"] and dataset.skipped == 2
    assert dataset.labels.tolist() == [0, 1]
    warnings = [m for m in warnings_logged if "skipped 2 bad item" in m]
    assert len(warnings) == 1


def test_a_text_column_with_no_text_at_all_is_an_error(tmp_path):
    path = write(tmp_path, "text,label\n,a\n,b\n")
    with pytest.raises(DataError, match="'text' holds no text at all"):
        load(path, text_column="text", on_bad_item="skip")


def test_a_table_without_a_text_column_says_how_to_name_one(tmp_path):
    with pytest.raises(DataError, match=r"no column of text.*text_column"):
        load(write(tmp_path, "a,b\n1,0\n2,1\n"))


def test_a_missing_text_column_names_it_and_the_columns(tmp_path):
    with pytest.raises(
        DataError, match=r"text column 'reviw' not found.*'review'.*columns are 'id', 'review'"
    ):
        load(write(tmp_path, GOOD), text_column="reviw")


def test_the_same_column_cannot_be_text_and_label(tmp_path):
    with pytest.raises(DataError, match="both the text and the label"):
        load(write(tmp_path, GOOD), text_column="sentiment")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"on_bad_item": "ignore"}, "on_bad_item must be one of error, skip"),
        ({"task": "ranking"}, "task must be one of"),
        ({"text_column": ["a"]}, "text_column must be a column name"),
        ({"delimiter": ""}, "delimiter must be a non-empty text"),
    ],
)
def test_wrong_dataset_args_are_argument_errors(tmp_path, args, message):
    with pytest.raises(ArgumentError, match=message):
        load(write(tmp_path, GOOD), **args)


def test_missing_data_path_is_an_error():
    with pytest.raises(DataError, match="needs data_path"):
        load(None)


def test_features_from_table_gives_the_text_column_as_strings(tmp_path):
    dataset = load(write(tmp_path, GOOD))
    frame = pd.DataFrame({"other": [1, 2], "review": ["so good", 7]})
    assert dataset.features_from_table(frame, "input.csv") == ["so good", "7"]


def test_features_from_table_names_a_missing_text_column_and_the_columns_found(tmp_path):
    dataset = load(write(tmp_path, GOOD))
    frame = pd.DataFrame({"text": ["x"], "id": [1]})
    with pytest.raises(
        DataError, match=r"input.csv: the text column 'review'.*missing.*found are 'text', 'id'"
    ):
        dataset.features_from_table(frame, "input.csv")


def test_features_from_table_refuses_an_empty_cell(tmp_path):
    dataset = load(write(tmp_path, GOOD))
    frame = pd.DataFrame({"review": ["fine", None]})
    with pytest.raises(DataError, match="'review' row 2 is empty"):
        dataset.features_from_table(frame, "input.csv")


def test_the_bundled_reviews_are_what_the_script_writes():
    spec = importlib.util.spec_from_file_location(
        "make_reviews_text", Path(__file__).with_name("make_reviews_text.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = (EXAMPLES / "reviews_text.csv").read_text(encoding="utf-8")
    assert shipped == module.table()
    assert len(shipped.encode()) < 300_000
    dataset = load(str(EXAMPLES / "reviews_text.csv"), text_column="review", label_column="sentiment")
    assert len(dataset) == 2000 and dataset.class_names == ["negative", "positive"]


def test_features_from_table_refuses_a_blank_cell(tmp_path):
    dataset = load(write(tmp_path, GOOD))
    frame = pd.DataFrame({"review": ["fine", "ok", " \t "]})
    with pytest.raises(DataError, match=r"input.csv: text column 'review' row 3 is blank"):
        dataset.features_from_table(frame, "input.csv")
