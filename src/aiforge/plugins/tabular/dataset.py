"""Read a user's CSV/TSV or Parquet table into tensors, with errors that point at the bad cell."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
)

from aiforge.core.data_pipeline import InMemoryDataset
from aiforge.errors import DataError, did_you_mean
from aiforge.plugins.tabular.columns import (
    KINDS,
    RawTable,
    as_text,
    build_table,
    check_column_types,
    infer_kind,
    is_gap,
    near_miss,
)
from aiforge.plugins.tabular.reading import Table, read_table
from aiforge.plugins.tabular.targets import (
    Source,
    class_labels,
    existing_file,
    infer_task,
    regression_labels,
    reject_infinite,
    reject_missing,
    writable,
)
from aiforge.runtime.log import logger

_TASKS = ("auto", "classification", "regression")


class Dataset(InMemoryDataset):
    """Your own table: a CSV/TSV or Parquet file with a header, one row per sample.

    ``data_path`` is the file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``).
    ``dataset_args``:

    - ``target_column``: the column to predict (default: the last column).
    - ``feature_columns``: list of input columns (default: every other column).
      Each column's kind is inferred (see ``columns.infer_kind`` and docs/tables.md):
      number, boolean, category, date (ISO dates become year, month, day of week and day
      of year) or ignore (a text with a different value in every row, such as an id: left
      out with a warning). Empty cells are gaps, filled in by the preprocessor.
    - ``column_types``: ``{column: number|category|boolean|date|ignore}`` overrides the
      inferred kinds; a cell that does not fit its column's kind is an error naming it.
    - ``task``: ``auto`` (default), ``classification`` or ``regression``. ``auto``
      picks classification for a text/bool target, or a whole-number target with at
      most ``classification_max_classes`` distinct values; otherwise regression.
    - ``classification_max_classes``: the ``auto`` threshold above (default 20).
    - ``delimiter`` (alias ``sep``): the field separator of a text file
      (default ``,``; ``\\t`` for ``.tsv``).

    Classification labels become indices ``0..K-1`` in sorted order of the
    original values, which are kept as ``class_names``. After loading,
    ``feature_names``, ``target_name`` and ``task`` describe the table.
    A text file is parsed a few megabytes at a time into one float32 matrix, so loading a
    large numeric file needs little more memory than that matrix. The features are held as a
    :class:`~aiforge.plugins.tabular.columns.RawTable` (numbers with gaps, category text), which
    the tabular preprocessor encodes.
    Parquet needs pyarrow: ``pip install "aiforge[parquet]"``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.feature_names: list[str] = []
        self.target_name: str | None = None
        self.task: str | None = None
        self.column_kinds: dict[str, str] = {}
        self.features: RawTable = RawTable(torch.empty(0, 0), [])

    def load_data(
        self,
        data_path: str | None,
        target_column: str | None = None,
        feature_columns: Sequence[str] | str | None = None,
        task: str = "auto",
        delimiter: str | None = None,
        classification_max_classes: int = 20,
        sep: str | None = None,
        column_types: dict[str, str] | None = None,
    ) -> None:
        if task not in _TASKS:
            raise DataError(f"tabular: task must be one of {', '.join(_TASKS)}, not {task!r}")
        _check_arguments(target_column, feature_columns, delimiter, sep, classification_max_classes)
        if delimiter is not None and sep is not None and delimiter != sep:
            raise DataError(f"tabular: delimiter={delimiter!r} and sep={sep!r} disagree; give one")
        path = existing_file(data_path)
        with contextlib.closing(read_table(path, delimiter if delimiter is not None else sep)) as table:
            if table.empty:
                raise DataError(f"{path} has no data rows (only a header)")
            source = Source(path.name, has_header_line=table.has_header_line)
            target, features = _pick_columns(table.columns, source, target_column, feature_columns)
            overrides = check_column_types(column_types, features, path.name)
            rows, column = _read_rows(table, features, target, source, overrides)
        reject_missing(column, target, source)
        self.column_kinds = _kinds(rows, features, overrides, source)
        raw = _raw_table(rows, features, self.column_kinds, source)
        self.task = task if task != "auto" else infer_task(column, classification_max_classes)
        if self.task == "classification":
            labels, self.class_names = class_labels(column, target, source)
        else:
            labels, self.class_names = regression_labels(column, target, source), None
        self.feature_names, self.target_name = features, target
        self.set_tensors(raw, labels)
        classes = f", {len(self.class_names)} classes" if self.class_names else ""
        kinds = ", ".join(f"{name}: {kind}" for name, kind in self.column_kinds.items())
        logger.debug(
            f"tabular: {path.name}: {len(raw)} rows, {len(features)} features ({kinds}), "
            f"target {target!r} ({self.task}{classes})"
        )

    def set_tensors(self, features: Any, labels: Any) -> None:
        """Store the rows: a RawTable as it is (``evaluate`` remaps labels through this)."""
        if not isinstance(features, RawTable):
            super().set_tensors(features, labels)
            return
        labels = torch.as_tensor(labels)
        if len(features) != len(labels):
            raise DataError(f"{len(features)} feature rows but {len(labels)} labels")
        self.features, self.labels = features, labels

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return {"features": self.features[torch.tensor([idx])], "labels": self.labels[idx]}

    def features_from_table(self, frame: pd.DataFrame, source: str) -> RawTable:
        """The features of a table of raw input columns, read with the kinds of the training columns.

        A missing column is a DataError naming it; a gap is fine (the preprocessor fills it); a
        cell that does not fit its column's kind (text in a number column) names column and row.
        """
        columns = [str(c) for c in frame.columns]
        needed = [name for name in self.feature_names if self.column_kinds.get(name) != "ignore"]
        missing = [name for name in needed if name not in columns]
        if missing:
            first = missing[0]
            more = f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else ""
            raise DataError(
                f"{source}: feature column {first!r} is missing{did_you_mean(first, columns)}{more}; "
                f"the model was trained on the columns {needed}"
            )
        text: dict[str, np.ndarray] = {}
        numeric: dict[str, np.ndarray] = {}
        for name in needed:
            column = frame[name] if isinstance(frame[name], pd.Series) else frame[name].iloc[:, 0]
            plain = is_numeric_dtype(column) and not is_bool_dtype(column)
            if self.column_kinds.get(name) == "number" and plain:
                with np.errstate(over="ignore"):
                    numeric[name] = column.to_numpy(dtype=np.float32, na_value=np.nan)
            else:
                text[name] = as_text(column.to_numpy(dtype=object))
        where = Source(source, has_header_line=True).at
        return build_table(text, self.column_kinds, self.feature_names, where, source, numeric, trained=True)

    def reading_state(self) -> dict[str, Any]:
        """What :meth:`features_from_table` needs, as JSON: a fresh Dataset given it by
        :meth:`restore_reading` reads raw input columns without the training data."""
        return {
            "column_kinds": dict(self.column_kinds),
            "feature_names": list(self.feature_names),
            "target_name": self.target_name,
            "task": self.task,
        }

    def restore_reading(self, state: dict[str, Any]) -> None:
        """Set the attributes of :meth:`reading_state`; a state of the wrong form is a ValueError."""
        from aiforge.data import reading_state as check

        state = check.checked_keys(state, ("column_kinds", "feature_names", "target_name", "task"), "tabular")
        names, kinds = state["feature_names"], state["column_kinds"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"tabular: reading state 'feature_names' must be a list of column names, not {names!r}"
            )
        if not isinstance(kinds, dict) or set(kinds) != set(names) or len(set(names)) != len(names):
            raise ValueError(
                f"tabular: reading state 'column_kinds' must give each of the feature_names {names} "
                f"one kind, not {kinds!r}"
            )
        bad = {column: kind for column, kind in kinds.items() if kind not in KINDS}
        if bad:
            raise ValueError(f"tabular: reading state 'column_kinds': {bad} (kinds are {', '.join(KINDS)})")
        target = check.name(state["target_name"], "target_name", "tabular", optional=True)
        task = check.task(state["task"], "tabular")
        self.feature_names, self.column_kinds = list(names), {n: str(kinds[n]) for n in names}
        self.target_name, self.task = target, task


def _check_arguments(
    target_column: object,
    feature_columns: object,
    delimiter: object,
    sep: object,
    classification_max_classes: object,
) -> None:
    """dataset_args come from a config file: a wrong type is the user's mistake, named as such."""

    def is_name(value: object) -> bool:
        return isinstance(value, str | int) and not isinstance(value, bool)

    if target_column is not None and not is_name(target_column):
        raise DataError(f"tabular: target_column must be a column name, not {target_column!r}")
    if feature_columns is not None and not (
        is_name(feature_columns)
        or (isinstance(feature_columns, list | tuple) and all(is_name(c) for c in feature_columns))
    ):
        raise DataError(f"tabular: feature_columns must be a list of column names, not {feature_columns!r}")
    for key, value in (("delimiter", delimiter), ("sep", sep)):
        if value is not None and not (isinstance(value, str) and value):
            raise DataError(f"tabular: {key} must be a non-empty text such as ',' or ';', not {value!r}")
    if isinstance(classification_max_classes, bool) or not isinstance(classification_max_classes, int):
        raise DataError(
            f"tabular: classification_max_classes must be a whole number, not {classification_max_classes!r}"
        )


def _pick_columns(
    columns: list[str],
    source: Source,
    target_column: str | None,
    feature_columns: Sequence[str] | str | None,
) -> tuple[str, list[str]]:
    def check(name: str, role: str) -> None:
        if name not in columns:
            known = ", ".join(repr(c) for c in columns)
            raise DataError(
                f"{source.name}: {role} column {name!r} not found{did_you_mean(name, columns)}; "
                f"the file's columns are {known}"
            )

    target = columns[-1] if target_column is None else str(target_column)
    check(target, "target")
    if feature_columns is None:
        features = [c for c in columns if c != target]
    else:
        names = feature_columns if isinstance(feature_columns, list | tuple) else [feature_columns]
        features = [str(c) for c in names]
        for name in features:
            check(name, "feature")
        if target in features:
            raise DataError(f"{source.name}: the target column {target!r} is also a feature column")
        if len(set(features)) != len(features):
            raise DataError(f"{source.name}: feature_columns lists a column twice: {features}")
    if not features:
        hint = ""
        if len(columns) == 1:
            hint = f"; only one column ({columns[0]!r}) was read: is the delimiter right?"
        raise DataError(f"{source.name}: no feature columns besides the target {target!r}{hint}")
    return target, features


@dataclass
class _Rows:
    """A file's feature cells: numbers in one float32 matrix (NaN gaps), text columns as text."""

    matrix: np.ndarray
    text: dict[str, np.ndarray] = field(default_factory=dict)
    was_bool: set[str] = field(default_factory=set)
    was_date: set[str] = field(default_factory=set)  # datetime64 columns (Parquet), any time zone


def _read_rows(
    table: Table, features: list[str], target: str, source: Source, kinds: dict[str, str]
) -> tuple[_Rows, pd.Series]:
    """The features, filled in place one frame of rows at a time, and the target.

    No float64 copy of the whole table is ever held: a large numeric file costs about its
    float32 matrix, plus one frame of rows while it is parsed. A column with text in it is kept
    as text (its rows in earlier frames are written back as text) for the kinds to be inferred.
    A number too large for float32 is an error naming its cell, unless ``kinds`` (the user's
    column_types) makes its column a category or ignores it.
    """
    checked = [j for j, name in enumerate(features) if kinds.get(name) not in ("category", "ignore")]
    matrix = np.empty((table.max_rows, len(features)), dtype=np.float32)
    text_parts: dict[str, list[tuple[int, np.ndarray]]] = {}
    was_bool: set[str] = set()
    was_date: set[str] = set()
    targets = []
    rows = 0
    for chunk in table:
        end = rows + len(chunk)
        if end > len(matrix):  # more rows than line breaks counted (mixed line endings)
            matrix = _grown(matrix, rows, end)
        _fill_features(matrix[rows:end], chunk, features, rows, text_parts, was_bool, was_date)
        if checked and np.isinf(matrix[rows:end, checked]).any():
            names = [features[j] for j in checked]
            reject_infinite(matrix[rows:end, checked], names, chunk, replace(source, first_row=rows))
        targets.append(chunk[target].copy())  # a copy: a view would keep the whole frame alive
        rows = end
    column = targets[0] if len(targets) == 1 else pd.concat(targets, ignore_index=True)
    matrix = matrix[:rows]
    text = {}
    for name, parts in text_parts.items():
        values = as_text(matrix[:, features.index(name)].astype(object))
        for start, part in parts:
            values[start : start + len(part)] = part
        text[name] = values
    return _Rows(writable(matrix), text, was_bool - set(text), was_date), column


def _grown(matrix: np.ndarray, rows: int, needed: int) -> np.ndarray:
    bigger = np.empty((max(needed, 2 * len(matrix)), matrix.shape[1]), dtype=matrix.dtype)
    bigger[:rows] = matrix[:rows]
    return bigger


def _fill_features(
    out: np.ndarray,
    chunk: pd.DataFrame,
    names: list[str],
    first_row: int,
    text_parts: dict[str, list[tuple[int, np.ndarray]]],
    was_bool: set[str],
    was_date: set[str],
) -> None:
    """Write one frame's number columns into ``out`` as float32 (NaN for gaps); keep text columns as text."""
    features = chunk[names]
    if all(isinstance(dtype, np.dtype) and dtype.kind in "iuf" for dtype in features.dtypes):
        with np.errstate(over="ignore", invalid="ignore"):  # numbers only, the usual case: one pass
            out[...] = features.to_numpy(dtype=np.float32)
        return
    for j, name in enumerate(names):  # per column, not per row: each is one vectorised pass
        column = chunk[name]
        if is_bool_dtype(column):
            was_bool.add(name)
            out[:, j] = column.to_numpy(dtype=np.float32)
        elif is_numeric_dtype(column):
            with np.errstate(over="ignore"):  # too big for float32 becomes inf, reported later
                out[:, j] = column.to_numpy(dtype=np.float32, na_value=np.nan)
        else:
            if is_datetime64_any_dtype(column):
                was_date.add(name)
            out[:, j] = np.nan
            text_parts.setdefault(name, []).append((first_row, as_text(column.to_numpy(dtype=object))))


def _kinds(rows: _Rows, features: list[str], overrides: dict[str, str], source: Source) -> dict[str, str]:
    """Each feature's kind: the override, else inferred; ids and empty columns left out get one
    warning; a column of numbers or dates but for a few cells is an error naming the first one."""
    kinds = {}
    empty = []
    for j, column in enumerate(features):
        if column in overrides:
            kinds[column] = overrides[column]
        elif column in rows.text:
            values = rows.text[column]
            if column in rows.was_date:
                kind = "date"
            elif all(is_gap(v) for v in values):
                kind = "empty"
            else:
                kind = infer_kind(values, was_bool=False)
            if kind in ("category", "ignore"):
                _refuse_near_miss(values, column, source)
            kinds[column] = kind
        elif np.isnan(rows.matrix[:, j]).all():
            kinds[column] = "empty"
        else:
            kinds[column] = "boolean" if column in rows.was_bool else "number"
        if kinds[column] == "empty":
            empty.append(column)
            kinds[column] = "ignore"
    if empty:
        logger.warning(
            f"{source.name}: column(s) {empty} are empty throughout and are left out (nothing to learn)"
        )
    ids = [c for c, kind in kinds.items() if kind == "ignore" and c not in overrides and c not in empty]
    if ids:
        logger.warning(
            f"{source.name}: column(s) {ids} have a different text in every row (ids?) and are left out; "
            "to use one, set dataset_args.column_types: {" + f"{ids[0]}: category" + "}"
        )
    if all(kind == "ignore" for kind in kinds.values()):
        raise DataError(f"{source.name}: every feature column is ignored ({kinds}); no inputs are left")
    return kinds


def _refuse_near_miss(values: np.ndarray, column: str, source: Source) -> None:
    """Numbers or dates but for a few cells: a typo, not a category; say which cell and the fix."""
    near = near_miss(values)
    if near is not None:
        kind, pos = near
        expected = {"number": "a number", "date": "an ISO date (2024-05-31)"}[kind]
        raise DataError(
            f"{source.name}: column {column!r} {source.at(pos)}: {values[pos]!r} is not {expected}, "
            f"but nearly every other cell of the column is {expected}; correct or empty that cell "
            "(an empty cell is a gap), or to keep the column as text set "
            "dataset_args.column_types: {" + f"{column}: category" + "}"
        )


def _raw_table(rows: _Rows, features: list[str], kinds: dict[str, str], source: Source) -> RawTable:
    """The RawTable of the features; an all-number table keeps its float32 matrix (no copy)."""
    if not rows.text and all(kinds[name] == "number" for name in features):
        _reject_infinite_numbers(rows.matrix, features, source)
        return RawTable(torch.from_numpy(rows.matrix), features)
    numeric = {name: rows.matrix[:, j] for j, name in enumerate(features) if name not in rows.text}
    return build_table(rows.text, kinds, features, source.at, source.name, numeric)


def _reject_infinite_numbers(values: np.ndarray, names: list[str], source: Source) -> None:
    bad = np.isinf(values)
    if bad.any():
        pos = int(bad.any(axis=1).argmax())
        name = names[int(bad[pos].argmax())]
        raise DataError(
            f"{source.name}: column {name!r} {source.at(pos)}: {values[pos, names.index(name)]} "
            "is not a finite float32 number"
        )
