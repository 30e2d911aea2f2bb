"""Column kinds of a table, and ``RawTable``: a table's rows before encoding (numbers and text).

The tabular dataset keeps its features raw (numbers with gaps, category levels as text) so the
preprocessor can learn imputation values and vocabularies from the training rows only.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from aiforge.errors import DataError, did_you_mean
from aiforge.plugins.tabular.reading import as_numbers

KINDS = ("number", "category", "boolean", "date", "ignore")
DATE_PARTS = ("year", "month", "day_of_week", "day_of_year")
MISSING_LEVEL = "(missing)"
# A text column with a different value in every row (ids, names) teaches nothing that carries
# over to new rows; it is left out (with a warning) when the table has at least this many rows.
ID_MIN_ROWS = 20
TRUE_WORDS = ("true",)  # any letter case, as ``reading.as_numbers`` reads them
FALSE_WORDS = ("false",)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")  # a date's parts are those of the time as written
# Cells that mean "no value" (pandas' default NA words, any letter case): gaps in a number, date
# or boolean column, at training and at predict alike.
NA_WORDS = frozenset(
    {"#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan"}
    | {"<na>", "n/a", "na", "null", "nan", "none"}
)
# A column whose cells are this share numbers (or ISO dates) but for a few is a mistake to name,
# not a category (with at least NEAR_MIN_CELLS cells, so that one odd cell of five is not one).
NEAR_SHARE = 0.9
NEAR_MIN_CELLS = 10


class RawTable:
    """Rows of a table as the model's input before encoding.

    ``numbers`` is a float32 tensor ``[N, len(number_names)]`` with NaN for gaps (number and
    boolean columns, and the numeric parts of date columns); ``categories`` holds one numpy object
    array of text (``None`` for a gap) per name in ``category_names``. Rows are taken with
    ``table[long_tensor]`` or ``table[start:stop]``, each giving a ``RawTable``.
    """

    def __init__(
        self,
        numbers: torch.Tensor,
        number_names: Sequence[str],
        categories: Sequence[np.ndarray] = (),
        category_names: Sequence[str] = (),
    ) -> None:
        if numbers.dim() != 2 or numbers.shape[1] != len(number_names):
            raise ValueError(f"numbers must be [N, {len(number_names)}], not {list(numbers.shape)}")
        if len(categories) != len(category_names):
            raise ValueError("one category array per category name")
        for values in categories:
            if len(values) != len(numbers):
                raise ValueError(f"a category column has {len(values)} rows, the numbers {len(numbers)}")
        self.numbers = numbers
        self.number_names = list(number_names)
        self.categories = list(categories)
        self.category_names = list(category_names)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, rows: Any) -> RawTable:
        if isinstance(rows, slice):
            picked = rows
        else:
            picked = torch.as_tensor(rows, dtype=torch.long).reshape(-1).numpy()
        categories = [values[picked] for values in self.categories]
        numbers = self.numbers[rows] if isinstance(rows, slice) else self.numbers[torch.as_tensor(picked)]
        return RawTable(numbers, self.number_names, categories, self.category_names)

    def as_tensor(self) -> torch.Tensor | None:
        """The rows as one float32 tensor when every column is a number (gaps are NaN), else None:
        such a table is what an exported or MLflow model takes, column by column."""
        return None if self.categories else self.numbers

    def __repr__(self) -> str:
        return f"RawTable({len(self)} rows, numbers {self.number_names}, categories {self.category_names})"


def check_column_types(column_types: object, features: Sequence[str], source: str) -> dict[str, str]:
    """``dataset_args.column_types`` as {feature column: kind}; unknown columns or kinds are DataErrors."""
    if column_types is None:
        return {}
    if not isinstance(column_types, Mapping):
        raise DataError(
            f"tabular: column_types must be a mapping of column name to kind ({', '.join(KINDS)}), "
            f"not {column_types!r}"
        )
    checked = {}
    for name, kind in column_types.items():
        name = str(name)
        if name not in features:
            raise DataError(
                f"{source}: column_types names column {name!r}, which is not a feature column"
                f"{did_you_mean(name, list(features))}; the feature columns are {list(features)}"
            )
        if kind not in KINDS:
            raise DataError(
                f"{source}: column_types: {name!r} has kind {kind!r}{did_you_mean(str(kind), list(KINDS))}; "
                f"use one of {', '.join(KINDS)}"
            )
        checked[name] = str(kind)
    return checked


def as_text(values: np.ndarray) -> np.ndarray:
    """Cells as stripped text, ``None`` for a gap; whole-number floats are written without ``.0``."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if value is None or value is pd.NA or value is pd.NaT or _is_nan(value):
            out[i] = None
        elif isinstance(value, datetime.datetime):  # a Parquet timestamp: its wall-clock time
            out[i] = value.replace(tzinfo=None).isoformat(sep=" ")
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        else:
            text = str(value).strip()
            out[i] = text if text else None
    return out


def _is_nan(value: object) -> bool:
    return (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, np.datetime64) and bool(np.isnat(value))
    )


def infer_kind(values: np.ndarray, was_bool: bool) -> str:
    """The kind of one column read as text (object array, ``None`` for gaps).

    Rules, in order: only true/false words (any letter case) -> boolean; every cell a number, or
    numbers mixed with true/false (read as 1/0, as ``reading.as_numbers`` does) -> number (0/1
    columns stay numbers); every cell an ISO date (``2024-05-31``, with an optional time) ->
    date; a different text in every row of a table of at least ``ID_MIN_ROWS`` rows -> ignore (an
    id); any other text -> category. Gaps and missing-value words (``NA_WORDS``) are left out
    first; ``near_miss`` tells a column of numbers or dates with a typo from a category.
    """
    if was_bool:
        return "boolean"
    present = [v for v in values if not is_gap(v)]
    if not present:
        return "number"  # all gaps: nothing to learn, imputed like any number
    words = {str(v).lower() for v in present}
    if words <= {*TRUE_WORDS, *FALSE_WORDS}:
        return "boolean"
    if not as_numbers(pd.Series(present, dtype=object))[1].any():
        return "number"
    dates = np.array(present, dtype=object)
    if all(_ISO_DATE.match(str(v)) for v in present) and date_parts(dates)[1] is None:
        return "date"
    if len(values) >= ID_MIN_ROWS and len(set(present)) == len(values):
        return "ignore"
    return "category"


def is_gap(value: object) -> bool:
    """An empty cell, or a missing-value word such as ``NA`` or ``null`` (see ``NA_WORDS``)."""
    return value is None or str(value).strip().lower() in NA_WORDS


def near_miss(values: np.ndarray) -> tuple[str, int] | None:
    """For a column inferred as text: the kind (number or date) that all but a few of its cells
    are, and the position of the first cell that is not; None when it is text through and through."""
    present = np.array([not is_gap(v) for v in values], dtype=bool)
    count = int(present.sum())
    if count < NEAR_MIN_CELLS:
        return None
    bad = np.zeros(len(values), dtype=bool)
    bad[present] = as_numbers(pd.Series(values[present], dtype=object))[1]
    if 1 - bad.sum() / count >= NEAR_SHARE:
        return "number", int(bad.argmax())
    bad = present & np.isnan(date_parts(values, first_bad=False)[0][:, 0])
    if 1 - bad.sum() / count >= NEAR_SHARE:
        return "date", int(bad.argmax())
    return None


def numbers_of(values: np.ndarray, kind: str) -> tuple[np.ndarray, int | None]:
    """A number or boolean column (text, ``None`` gaps) as float32 with NaN for gaps.

    Also the position of the first cell that is not of the kind (None when all are).
    """
    present = np.array([not is_gap(v) for v in values], dtype=bool)
    values = np.where(present, values, None)
    if kind == "boolean":
        lowered = np.array([str(v).lower() if v is not None else "" for v in values], dtype=object)
        truth = np.isin(lowered, [*TRUE_WORDS, "1", "1.0"])
        falsity = np.isin(lowered, [*FALSE_WORDS, "0", "0.0"])
        out = np.where(truth, 1.0, np.where(falsity, 0.0, np.nan)).astype(np.float32)
    else:
        series = pd.Series(values, dtype=object)
        numbers = pd.to_numeric(series, errors="coerce")
        lowered = series.astype("string").str.lower()
        numbers = numbers.mask((lowered.isin(TRUE_WORDS)).fillna(False), 1.0)
        numbers = numbers.mask((lowered.isin(FALSE_WORDS)).fillna(False), 0.0)
        with np.errstate(over="ignore"):
            out = numbers.to_numpy(dtype=np.float32, na_value=np.nan)
    bad = present & np.isnan(out)
    return out, (int(bad.argmax()) if bad.any() else None)


def _wall_clock(values: np.ndarray) -> pd.Series:
    """ISO texts without their time zone: a date's parts are those of the time as written."""
    return pd.Series([_ZONE.sub("", str(v)) for v in values], dtype=object)


def date_parts(values: np.ndarray, first_bad: bool = True) -> tuple[np.ndarray, int | None]:
    """ISO date text -> float32 ``[N, 4]`` (year, month, day of week 0=Monday, day of year), NaN for gaps.

    Also the position of the first cell that is not an ISO date (None when all are); with
    ``first_bad=False`` such cells are NaN rows too.
    """
    out = np.full((len(values), len(DATE_PARTS)), np.nan, dtype=np.float32)
    present = np.array([not is_gap(v) for v in values], dtype=bool)
    iso = np.array([bool(_ISO_DATE.match(str(v))) for v in values], dtype=bool)
    if not present.any():
        return out, None
    dates = pd.Series(pd.NaT, index=range(len(values)), dtype="datetime64[ns]")
    picked = np.flatnonzero(present & iso)
    if len(picked):
        try:  # an impossible date (2024-02-31) or one past 2262 becomes NaT
            parsed = pd.to_datetime(_wall_clock(values[picked]), format="ISO8601", errors="coerce")
            dates.iloc[picked] = pd.DatetimeIndex(parsed).as_unit("ns")
        except (ValueError, TypeError, OverflowError):
            pass
    bad = present & dates.isna().to_numpy()
    if bad.any() and first_bad:
        return out, int(bad.argmax())
    good = ~dates.isna().to_numpy()
    index = pd.DatetimeIndex(dates[good])
    parts = np.stack([index.year, index.month, index.day_of_week, index.day_of_year], axis=1)
    out[good] = parts.astype(np.float32)
    return out, None


def number_columns(name: str, kind: str) -> list[str]:
    """The numeric columns a feature becomes: itself, or its date parts."""
    return [f"{name}.{part}" for part in DATE_PARTS] if kind == "date" else [name]


def build_table(
    columns: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    order: Sequence[str],
    where: Any,
    source: str,
    numeric: Mapping[str, np.ndarray] | None = None,
    trained: bool = False,
) -> RawTable:
    """A RawTable of the ``order`` features by ``kinds`` (``ignore`` columns left out).

    ``columns`` holds text columns (object arrays); ``numeric`` holds columns already read as
    float32 numbers (NaN gaps), used as they are for number kinds. ``where(pos)`` says where a row
    is in the file; a cell that does not fit its column's kind is a DataError naming both (with
    ``trained``, new rows for a trained run: the fix is in the rows, not in column_types).
    """
    numeric = numeric or {}
    blocks: list[np.ndarray] = []
    names: list[str] = []
    categories: list[np.ndarray] = []
    category_names: list[str] = []
    for name in order:
        kind = kinds[name]
        if kind == "ignore":
            continue
        if kind == "category":
            values = columns[name] if name in columns else as_text(numeric[name].astype(object))
            categories.append(values)
            category_names.append(name)
            continue
        if name in numeric and kind == "number":
            block, bad = numeric[name].reshape(-1, 1), None
        elif kind == "date":
            block, bad = date_parts(_text_column(columns, numeric, name))
        else:
            values, bad = numbers_of(_text_column(columns, numeric, name), kind)
            block = values.reshape(-1, 1)
        if bad is not None:
            cell = _text_column(columns, numeric, name)[bad]
            expected = {"number": "a number", "boolean": "true or false", "date": "an ISO date (2024-05-31)"}
            fix = (
                f"the run was trained with {name!r} as a {kind} column, so the input must hold "
                f"{_PLURAL[kind]} there (or an empty cell)"
                if trained
                else f"the column is a {kind} column; set dataset_args.column_types to change that"
            )
            raise DataError(
                f"{source}: column {name!r} {where(bad)}: {cell!r} is not {expected[kind]} ({fix})"
            )
        if not np.isfinite(block[~np.isnan(block)]).all():
            pos = int((np.isinf(block)).any(axis=1).argmax())
            raise DataError(
                f"{source}: column {name!r} {where(pos)}: "
                f"{_text_column(columns, numeric, name)[pos]} is not a finite float32 number"
            )
        blocks.append(block)
        names += number_columns(name, kind)
    count = len(next(iter(columns.values()))) if columns else len(next(iter(numeric.values())))
    matrix = np.concatenate(blocks, axis=1) if blocks else np.empty((count, 0), dtype=np.float32)
    numbers = torch.from_numpy(np.require(matrix, dtype=np.float32, requirements=["C", "W"]))
    return RawTable(numbers, names, categories, category_names)


_PLURAL = {"number": "numbers", "boolean": "true or false", "date": "ISO dates (2024-05-31)"}


def _text_column(
    columns: Mapping[str, np.ndarray], numeric: Mapping[str, np.ndarray], name: str
) -> np.ndarray:
    return columns[name] if name in columns else as_text(numeric[name].astype(object))
