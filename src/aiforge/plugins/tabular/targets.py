"""A table's cells checked one column at a time, with errors that name the file, row and column;
and its target column made labels. Shared by the plugins that read tables (tabular, text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype

from aiforge.errors import DataError
from aiforge.plugins.tabular.reading import as_numbers


@dataclass(frozen=True)
class Source:
    """The file's name, and how to say where a row is so the user can find it in the file."""

    name: str
    has_header_line: bool
    first_row: int = 0  # rows before the chunk that positions count from

    def at(self, pos: int) -> str:
        row = self.first_row + pos + 1
        return f"row {row} (line {row + 1} of the file)" if self.has_header_line else f"row {row}"


def existing_file(data_path: str | None, plugin: str = "tabular") -> Path:
    """``data_path`` as a file that exists; a DataError saying what is wrong, naming ``plugin``."""
    if data_path is None or not str(data_path).strip():
        raise DataError(f"the {plugin} dataset needs data_path: the CSV or Parquet file to read")
    path = Path(data_path).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise DataError(f"data_path {str(data_path)[:200]!r} is not a usable file path: {err}") from None
    if not exists:
        raise DataError(f"data file not found: {path} (looked for {path.resolve()})")
    if is_dir:
        raise DataError(f"data_path {path} is a directory; the {plugin} dataset reads one file")
    return path


def reject_missing(column: pd.Series, name: str, source: Source) -> None:
    missing = column.isna().to_numpy()
    if missing.any():
        at = source.at(int(missing.argmax()))
        hint = ": an empty cell, or a row with fewer fields than the header" if source.has_header_line else ""
        raise DataError(f"{source.name}: missing value in column {name!r} at {at}{hint}")


def numbers_in(column: pd.Series, name: str, source: Source, hint: str = "") -> pd.Series:
    """The column as numbers (true/false as 1/0, see ``as_numbers``); a cell that is not one is an error."""
    numbers, bad = as_numbers(column)
    if bad.any():
        pos = int(bad.argmax())
        raise DataError(
            f"{source.name}: column {name!r} {source.at(pos)}: "
            f"{shown(column.iloc[pos])} is not a number{hint}"
        )
    return numbers


def shown(value: object) -> str:
    """A cell as the user wrote it: text quoted, numbers plain (not ``np.float64(inf)``)."""
    return repr(value) if isinstance(value, str) else str(value)


def reject_infinite(values: np.ndarray, names: list[str], frame: pd.DataFrame, source: Source) -> None:
    bad = ~np.isfinite(values.reshape(len(values), -1))
    if bad.any():
        pos = int(bad.any(axis=1).argmax())
        name = names[int(bad[pos].argmax())]
        raise DataError(
            f"{source.name}: column {name!r} {source.at(pos)}: "
            f"{shown(frame[name].iloc[pos])} is not a finite float32 number"
        )


def whole_numbers(column: pd.Series) -> np.ndarray | None:
    """The values as int64 when every one is a whole number that int64 holds exactly."""
    if is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)):
            return values.astype(np.int64)
    return None


def infer_task(column: pd.Series, max_classes: int) -> str:
    if is_bool_dtype(column) or not is_numeric_dtype(column):
        return "classification"
    whole = whole_numbers(column)
    if whole is not None and len(np.unique(whole)) <= max_classes:
        return "classification"
    return "regression"


def class_labels(column: pd.Series, name: str, source: Source) -> tuple[torch.Tensor, list[str]]:
    whole = None if is_bool_dtype(column) else whole_numbers(column)
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


def regression_labels(column: pd.Series, name: str, source: Source) -> torch.Tensor:
    hint = " (for class labels, set dataset_args: {task: classification})"
    with np.errstate(over="ignore"):
        values = numbers_in(column, name, source, hint).to_numpy(dtype=np.float32)
    reject_infinite(values, [name], column.to_frame(), source)
    return torch.from_numpy(writable(values))


def writable(values: np.ndarray) -> np.ndarray:
    """Pandas may hand back a read-only view of its data; torch tensors must own theirs."""
    return np.require(values, requirements=["C", "W"])
