"""Read a user's CSV/TSV or Parquet table into tensors, with errors that point at the bad cell."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from aiforge.core.data_pipeline import InMemoryDataset
from aiforge.errors import DataError, did_you_mean
from aiforge.plugins.tabular.reading import Table, as_numbers, read_table
from aiforge.runtime.log import logger

_TASKS = ("auto", "classification", "regression")


class Dataset(InMemoryDataset):
    """Your own table: a CSV/TSV or Parquet file with a header, one row per sample.

    ``data_path`` is the file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``).
    ``dataset_args``:

    - ``target_column``: the column to predict (default: the last column).
    - ``feature_columns``: list of input columns (default: every other column).
      Features must be numbers (``true``/``false`` count as 1/0); a missing or
      non-numeric cell is an error naming its column and row, never silently dropped.
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
    large numeric file needs little more memory than that matrix.
    Parquet needs pyarrow: ``pip install "aiforge[parquet]"``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.feature_names: list[str] = []
        self.target_name: str | None = None
        self.task: str | None = None

    def load_data(
        self,
        data_path: str | None,
        target_column: str | None = None,
        feature_columns: Sequence[str] | str | None = None,
        task: str = "auto",
        delimiter: str | None = None,
        classification_max_classes: int = 20,
        sep: str | None = None,
    ) -> None:
        if task not in _TASKS:
            raise DataError(f"tabular: task must be one of {', '.join(_TASKS)}, not {task!r}")
        _check_arguments(target_column, feature_columns, delimiter, sep, classification_max_classes)
        if delimiter is not None and sep is not None and delimiter != sep:
            raise DataError(f"tabular: delimiter={delimiter!r} and sep={sep!r} disagree; give one")
        path = _existing_file(data_path)
        with contextlib.closing(read_table(path, delimiter if delimiter is not None else sep)) as table:
            if table.empty:
                raise DataError(f"{path} has no data rows (only a header)")
            source = _Source(path.name, has_header_line=table.has_header_line)
            target, features = _pick_columns(table.columns, source, target_column, feature_columns)
            matrix, column = _read_rows(table, features, target, source)
        _reject_missing(column, target, source)
        self.task = task if task != "auto" else _infer_task(column, classification_max_classes)
        if self.task == "classification":
            labels, self.class_names = _class_labels(column, target, source)
        else:
            labels, self.class_names = _regression_labels(column, target, source), None
        self.feature_names, self.target_name = features, target
        self.set_tensors(torch.from_numpy(matrix), labels)
        classes = f", {len(self.class_names)} classes" if self.class_names else ""
        logger.debug(
            f"tabular: {path.name}: {len(matrix)} rows, {len(features)} features, "
            f"target {target!r} ({self.task}{classes})"
        )


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


@dataclass(frozen=True)
class _Source:
    """The file's name, and how to say where a row is so the user can find it in the file."""

    name: str
    has_header_line: bool
    first_row: int = 0  # rows before the chunk that positions count from

    def at(self, pos: int) -> str:
        row = self.first_row + pos + 1
        return f"row {row} (line {row + 1} of the file)" if self.has_header_line else f"row {row}"


def _existing_file(data_path: str | None) -> Path:
    if data_path is None or not str(data_path).strip():
        raise DataError("the tabular dataset needs data_path: the CSV or Parquet file to read")
    path = Path(data_path).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise DataError(f"data_path {str(data_path)[:200]!r} is not a usable file path: {err}") from None
    if not exists:
        raise DataError(f"data file not found: {path} (looked for {path.resolve()})")
    if is_dir:
        raise DataError(f"data_path {path} is a directory; the tabular dataset reads one file")
    return path


def _pick_columns(
    columns: list[str],
    source: _Source,
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


def _reject_missing(column: pd.Series, name: str, source: _Source) -> None:
    missing = column.isna().to_numpy()
    if missing.any():
        at = source.at(int(missing.argmax()))
        hint = ": an empty cell, or a row with fewer fields than the header" if source.has_header_line else ""
        raise DataError(f"{source.name}: missing value in column {name!r} at {at}{hint}")


def _as_numbers(column: pd.Series, name: str, source: _Source, hint: str = "") -> pd.Series:
    """The column as numbers (true/false as 1/0, see ``as_numbers``); a cell that is not one is an error."""
    numbers, bad = as_numbers(column)
    if bad.any():
        pos = int(bad.argmax())
        raise DataError(
            f"{source.name}: column {name!r} {source.at(pos)}: "
            f"{_show(column.iloc[pos])} is not a number{hint}"
        )
    return numbers


def _show(value: object) -> str:
    """A cell as the user wrote it: text quoted, numbers plain (not ``np.float64(inf)``)."""
    return repr(value) if isinstance(value, str) else str(value)


def _reject_infinite(values: np.ndarray, names: list[str], frame: pd.DataFrame, source: _Source) -> None:
    bad = ~np.isfinite(values.reshape(len(values), -1))
    if bad.any():
        pos = int(bad.any(axis=1).argmax())
        name = names[int(bad[pos].argmax())]
        raise DataError(
            f"{source.name}: column {name!r} {source.at(pos)}: "
            f"{_show(frame[name].iloc[pos])} is not a finite float32 number"
        )


def _read_rows(
    table: Table, features: list[str], target: str, source: _Source
) -> tuple[np.ndarray, pd.Series]:
    """The float32 feature matrix, filled in place one frame of rows at a time, and the target.

    No float64 copy of the whole table is ever held: a large numeric file costs about its
    float32 matrix, plus one frame of rows while it is parsed.
    """
    matrix = np.empty((table.max_rows, len(features)), dtype=np.float32)
    targets = []
    rows = 0
    for chunk in table:
        end = rows + len(chunk)
        if end > len(matrix):  # more rows than line breaks counted (mixed line endings)
            matrix = _grown(matrix, rows, end)
        _fill_features(matrix[rows:end], chunk, features, replace(source, first_row=rows))
        targets.append(chunk[target].copy())  # a copy: a view would keep the whole frame alive
        rows = end
    column = targets[0] if len(targets) == 1 else pd.concat(targets, ignore_index=True)
    return _writable(matrix[:rows]), column


def _grown(matrix: np.ndarray, rows: int, needed: int) -> np.ndarray:
    bigger = np.empty((max(needed, 2 * len(matrix)), matrix.shape[1]), dtype=matrix.dtype)
    bigger[:rows] = matrix[:rows]
    return bigger


def _fill_features(out: np.ndarray, chunk: pd.DataFrame, names: list[str], source: _Source) -> None:
    """Write one frame's feature columns into ``out`` as float32; a bad cell is an error naming it."""
    features = chunk[names]
    if all(isinstance(dtype, np.dtype) and dtype.kind in "iuf" for dtype in features.dtypes):
        # Numbers only, the usual case: one pass over the frame. A missing cell (NaN) or a number
        # float32 cannot hold (inf) is left to the column-by-column checks below, which name it.
        with np.errstate(over="ignore", invalid="ignore"):
            out[...] = features.to_numpy(dtype=np.float32)
        if np.isfinite(out).all():
            return
    for j, name in enumerate(names):  # per column, not per row: each check is one vectorised pass
        column = chunk[name]
        _reject_missing(column, name, source)
        numbers = _as_numbers(column, name, source)
        with np.errstate(over="ignore"):  # too big for float32 becomes inf, reported just below
            out[:, j] = numbers.to_numpy(dtype=np.float32)
    _reject_infinite(out, names, chunk, source)


def _whole_numbers(column: pd.Series) -> np.ndarray | None:
    """The values as int64 when every one is a whole number that int64 holds exactly."""
    if is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)):
            return values.astype(np.int64)
    return None


def _infer_task(column: pd.Series, max_classes: int) -> str:
    if is_bool_dtype(column) or not is_numeric_dtype(column):
        return "classification"
    whole = _whole_numbers(column)
    if whole is not None and len(np.unique(whole)) <= max_classes:
        return "classification"
    return "regression"


def _class_labels(column: pd.Series, name: str, source: _Source) -> tuple[torch.Tensor, list[str]]:
    whole = None if is_bool_dtype(column) else _whole_numbers(column)
    values = whole if whole is not None else column.to_numpy()
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types (say 3 and "a") have no order; compare them as text
        classes, codes = np.unique(values.astype(str), return_inverse=True)
    if len(classes) < 2:
        raise DataError(
            f"{source.name}: target column {name!r} has a single class {str(classes[0])!r}; "
            "classification needs at least 2"
        )
    return torch.from_numpy(codes.reshape(-1).astype(np.int64)), [str(c) for c in classes]


def _regression_labels(column: pd.Series, name: str, source: _Source) -> torch.Tensor:
    hint = " (for class labels, set dataset_args: {task: classification})"
    with np.errstate(over="ignore"):
        values = _as_numbers(column, name, source, hint).to_numpy(dtype=np.float32)
    _reject_infinite(values, [name], column.to_frame(), source)
    return torch.from_numpy(_writable(values))


def _writable(values: np.ndarray) -> np.ndarray:
    """Pandas may hand back a read-only view of its data; torch tensors must own theirs."""
    return np.require(values, requirements=["C", "W"])
