"""Read a table of texts and labels: one text per row, checked so a blank text is never trained on."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_numeric_dtype

from aiforge.core.data_pipeline import BaseDataset, Item
from aiforge.errors import ArgumentError, DataError, did_you_mean
from aiforge.plugins.tabular.reading import read_table
from aiforge.plugins.tabular.targets import (
    Source,
    class_labels,
    existing_file,
    infer_task,
    regression_labels,
)
from aiforge.runtime.log import logger

_TASKS = ("auto", "classification", "regression")
_ON_BAD_ITEM = ("error", "skip")


class Dataset(BaseDataset):
    """Your own texts: a CSV/TSV or Parquet file with a header, one text and one label per row.

    ``data_path`` is the file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``).
    ``dataset_args``:

    - ``text_column``: the column holding the texts (default: the first column, other than the
      label column, whose cells are text rather than numbers).
    - ``label_column``: the column to predict (default: the last column).
    - ``task``: ``auto`` (default), ``classification`` or ``regression``, as in ``tabular``.
    - ``classification_max_classes``: the ``auto`` threshold (default 20), as in ``tabular``.
    - ``delimiter`` (alias ``sep``): the field separator of a text file.
    - ``on_bad_item``: ``error`` (default): an empty or blank text, or a missing label, is a
      DataError naming its row; ``skip``: such rows are left out and counted in one warning.

    Items are ``{"features": str, "labels": tensor}``; the text plugin's Preprocessor turns
    each batch of texts into padded token ids. Raw text is also what ``predict`` reads.
    """

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.labels = torch.empty(0)
        self.text_column: str | None = None
        self.target_name: str | None = None
        self.task: str | None = None
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, idx: int) -> Item:
        return {"features": self.texts[idx], "labels": self.labels[idx]}

    def load_data(
        self,
        data_path: str | None,
        text_column: str | None = None,
        label_column: str | None = None,
        task: str = "auto",
        delimiter: str | None = None,
        classification_max_classes: int = 20,
        on_bad_item: str = "error",
        sep: str | None = None,
    ) -> None:
        _check_arguments(text_column, label_column, task, delimiter, sep, classification_max_classes)
        if on_bad_item not in _ON_BAD_ITEM:
            raise ArgumentError(
                f"text: on_bad_item must be one of {', '.join(_ON_BAD_ITEM)}, not {on_bad_item!r}"
            )
        if data_path is None or not str(data_path).strip():
            raise DataError("the text dataset needs data_path: the CSV or Parquet file of texts and labels")
        path = existing_file(data_path, "text")
        with contextlib.closing(read_table(path, delimiter if delimiter is not None else sep)) as table:
            if table.empty:
                raise DataError(f"{path} has no data rows (only a header)")
            source = Source(path.name, has_header_line=table.has_header_line)
            frame = pd.concat([chunk.copy() for chunk in table], ignore_index=True)
        label = _pick_label(list(frame.columns), label_column, source)
        text = _pick_text(frame, text_column, label, source)
        texts, column = _good_rows(frame[text], frame[label], text, label, source, on_bad_item)
        self.skipped = len(frame) - len(texts)
        if self.skipped:
            logger.warning(
                f"text: {path.name}: skipped {self.skipped} bad item(s) (empty text or missing label); "
                "on_bad_item: error names the first"
            )
        self.task = task if task != "auto" else infer_task(column, classification_max_classes)
        if self.task == "classification":
            self.labels, self.class_names = class_labels(column, label, source)
        else:
            self.labels, self.class_names = regression_labels(column, label, source), None
        self.texts, self.text_column, self.target_name = texts, text, label
        classes = f", {len(self.class_names)} classes" if self.class_names else ""
        logger.debug(
            f"text: {path.name}: {len(texts)} texts in {text!r}, target {label!r} ({self.task}{classes})"
        )

    def features_from_table(self, frame: pd.DataFrame, source: str) -> list[str]:
        """The texts of a user's table for ``predict``: the training text column, as strings."""
        name = self.text_column
        columns = [str(c) for c in frame.columns]
        if name is None or name not in columns:
            found = ", ".join(repr(c) for c in columns) or "none"
            raise DataError(
                f"{source}: the text column {name!r} that the run was trained on is missing"
                f"{did_you_mean(str(name), columns)}; the columns found are {found}"
            )
        cells = frame[frame.columns[columns.index(name)]]
        missing = cells.isna().to_numpy()
        if missing.any():
            raise DataError(f"{source}: text column {name!r} row {int(missing.argmax()) + 1} is empty")
        texts = [str(value) for value in cells.tolist()]
        blank = [position for position, text in enumerate(texts) if not text.strip()]
        if blank:  # training refuses blank texts too: a prediction for one would mean nothing
            raise DataError(
                f"{source}: text column {name!r} row {blank[0] + 1} is blank (only whitespace); "
                "give it a text or remove the row"
            )
        return texts

    def reading_state(self) -> dict[str, Any]:
        """What :meth:`features_from_table` needs, as JSON (the text column; the label column and
        task describe the run): :meth:`restore_reading` sets it on a fresh Dataset."""
        return {"text_column": self.text_column, "target_name": self.target_name, "task": self.task}

    def restore_reading(self, state: dict[str, Any]) -> None:
        """Set the attributes of :meth:`reading_state`; a state of the wrong form is a ValueError."""
        from aiforge.data import reading_state as check

        state = check.checked_keys(state, ("text_column", "target_name", "task"), "text")
        text = check.name(state["text_column"], "text_column", "text")
        target = check.name(state["target_name"], "target_name", "text", optional=True)
        self.text_column, self.target_name, self.task = text, target, check.task(state["task"], "text")


def _check_arguments(
    text_column: object,
    label_column: object,
    task: object,
    delimiter: object,
    sep: object,
    classification_max_classes: object,
) -> None:
    """dataset_args come from a config file: a wrong type is the user's mistake, named as such."""
    for key, value in (("text_column", text_column), ("label_column", label_column)):
        if value is not None and not (isinstance(value, str | int) and not isinstance(value, bool)):
            raise ArgumentError(f"text: {key} must be a column name, not {value!r}")
    if task not in _TASKS:
        raise ArgumentError(f"text: task must be one of {', '.join(_TASKS)}, not {task!r}")
    for key, value in (("delimiter", delimiter), ("sep", sep)):
        if value is not None and not (isinstance(value, str) and value):
            raise ArgumentError(f"text: {key} must be a non-empty text such as ',' or ';', not {value!r}")
    if delimiter is not None and sep is not None and delimiter != sep:
        raise ArgumentError(f"text: delimiter={delimiter!r} and sep={sep!r} disagree; give one")
    if isinstance(classification_max_classes, bool) or not isinstance(classification_max_classes, int):
        raise ArgumentError(
            f"text: classification_max_classes must be a whole number, not {classification_max_classes!r}"
        )


def _missing_column(name: str, role: str, columns: list[str], source: Source) -> DataError:
    known = ", ".join(repr(c) for c in columns)
    return DataError(
        f"{source.name}: {role} column {name!r} not found{did_you_mean(name, columns)}; "
        f"the file's columns are {known}"
    )


def _pick_label(columns: list[str], label_column: Any, source: Source) -> str:
    label = columns[-1] if label_column is None else str(label_column)
    if label not in columns:
        raise _missing_column(label, "label", columns, source)
    return label


def _pick_text(frame: pd.DataFrame, text_column: Any, label: str, source: Source) -> str:
    columns = list(frame.columns)
    if text_column is not None:
        text = str(text_column)
        if text not in columns:
            raise _missing_column(text, "text", columns, source)
        if text == label:
            raise DataError(f"{source.name}: column {text!r} is both the text and the label column")
        return text
    for name in columns:
        if name != label and not is_numeric_dtype(frame[name]) and frame[name].notna().any():
            return name
    hint = " (is the delimiter right?)" if len(columns) == 1 else ""
    raise DataError(
        f"{source.name}: no column of text besides the label {label!r} among {columns}{hint}; "
        "name it with dataset_args: {text_column: NAME}"
    )


def _good_rows(
    texts: pd.Series, labels: pd.Series, text: str, label: str, source: Source, on_bad_item: str
) -> tuple[list[str], pd.Series]:
    """The texts as strings and their labels; blank texts and missing labels refused or skipped."""
    blank = texts.isna().to_numpy() | (texts.astype(str).str.strip() == "").to_numpy()
    if blank.all():
        raise DataError(f"{source.name}: the text column {text!r} holds no text at all (every cell is empty)")
    no_label = labels.isna().to_numpy()
    if on_bad_item == "error":
        if blank.any():
            raise DataError(
                f"{source.name}: empty text in column {text!r} at {source.at(int(blank.argmax()))}; "
                "fix the row, or set dataset_args: {on_bad_item: skip}"
            )
        if no_label.any():
            raise DataError(
                f"{source.name}: missing value in label column {label!r} at "
                f"{source.at(int(no_label.argmax()))}; fix the row, or set "
                "dataset_args: {on_bad_item: skip}"
            )
    keep = ~(blank | no_label)
    if not keep.any():
        raise DataError(f"{source.name}: no row has both a text and a label")
    kept = np.flatnonzero(keep)
    return [str(value) for value in texts.iloc[kept].tolist()], labels.iloc[kept].reset_index(drop=True)
