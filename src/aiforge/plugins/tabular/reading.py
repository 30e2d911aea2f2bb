"""Read a CSV/TSV or Parquet file as frames of consecutive rows, with pandas' errors made clear."""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from aiforge.errors import DataError

# Default delimiter per text suffix; ``delimiter`` overrides it.
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ","}
PARQUET_SUFFIXES = (".parquet", ".pq")
# Text parsed per chunk. A chunk's parsed cells (float64, the parser's tokens) are a few times
# this; the whole file is never held as one float64 frame. A file this small is one chunk.
CHUNK_BYTES = 4 * 1024 * 1024
_COUNT_BLOCK = 1024 * 1024


class Table:
    """A file's rows as frames of consecutive rows, each read from the file when it is needed.

    The first frame is read on opening, for the column names; it is empty for a header-only
    file. ``max_rows`` is at least the number of data rows (there may be fewer).
    """

    def __init__(
        self, chunks: Generator[pd.DataFrame, None, None], max_rows: int, has_header_line: bool
    ) -> None:
        self._chunks = chunks
        self._first: pd.DataFrame | None = next(chunks)
        self.columns = [str(c) for c in self._first.columns]
        self.empty = self._first.empty
        self.max_rows = max_rows
        self.has_header_line = has_header_line

    def __iter__(self) -> Iterator[pd.DataFrame]:
        """Each frame once, in file order, with the column names of ``columns``."""
        chunks = itertools.chain([self._first] if self._first is not None else [], self._chunks)
        self._first = None  # held by nothing once used, so each frame is freed after its turn
        for chunk in chunks:
            chunk.columns = self.columns
            yield chunk

    def close(self) -> None:
        self._first = None
        self._chunks.close()


def read_table(path: Path, delimiter: str | None) -> Table:
    """Open ``path`` by its suffix; errors in the file or its header line are DataErrors."""
    suffix = path.suffix.lower()
    if path.exists() and not path.is_file():
        raise DataError(
            f"{path} is not a regular file (a pipe or a device?): a table is read twice, to size it "
            "and then to parse it; save it to a file first"
        )
    if suffix in TEXT_SUFFIXES:
        sep = delimiter if delimiter is not None else TEXT_SUFFIXES[suffix]
        max_rows, rows_per_chunk = _line_counts(path)
        return Table(_text_chunks(path, sep, rows_per_chunk), max_rows, has_header_line=True)
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
        return Table(_whole(frame), len(frame), has_header_line=False)
    known = ", ".join([*TEXT_SUFFIXES, *PARQUET_SUFFIXES])
    raise DataError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use one of {known}")


def _whole(frame: pd.DataFrame) -> Generator[pd.DataFrame, None, None]:
    yield frame


def _line_counts(path: Path) -> tuple[int, int]:
    """At most how many data rows the file has, and how many rows make ``CHUNK_BYTES`` of it.

    Every data row but the last ends with a line break, and so does the header line; a blank
    line or a quoted field with a line break in it only makes the bound looser.
    """
    try:
        lines, size, last = _count(path, b"\n")
        if lines == 0:  # old Mac files end their lines with \r alone
            lines, size, last = _count(path, b"\r")
    except OSError as err:
        raise DataError(f"{path} could not be read: {_oneline(err)}") from None
    max_rows = max(lines - 1 + (last not in (b"\n", b"\r", b"")), 0)
    rows_per_chunk = max(1, CHUNK_BYTES * max(lines, 1) // max(size, 1))
    return max_rows, rows_per_chunk


def _count(path: Path, line_break: bytes) -> tuple[int, int, bytes]:
    """How many times ``line_break`` occurs, the file's size and its last byte."""
    count = size = 0
    last = b""
    with path.open("rb") as file:
        while block := file.read(_COUNT_BLOCK):
            count, size, last = count + block.count(line_break), size + len(block), block[-1:]
    return count, size, last


def _text_chunks(path: Path, sep: str, rows_per_chunk: int) -> Generator[pd.DataFrame, None, None]:
    with _text_errors(path, sep):
        # skipinitialspace: "a, b" is read as "b", not " b" (hand-written files).
        # index_col=False: rows with one field more than the header are not read with their
        # first field as the index (every value under its neighbour's name); pandas warns
        # that it drops the extra fields instead, and that warning is made an error here.
        reader = pd.read_csv(
            path,
            sep=sep,
            skipinitialspace=True,
            keep_default_na=False,
            na_values=[""],
            index_col=False,
            iterator=True,
        )
    with reader:
        first = True
        while True:
            with _text_errors(path, sep):
                try:
                    chunk = reader.get_chunk(rows_per_chunk)
                except StopIteration:
                    return
            if first:
                with _text_errors(path, sep):
                    check_header(path, sep)
            elif chunk.empty:
                return
            first = False
            yield chunk


@contextlib.contextmanager
def _text_errors(path: Path, sep: str) -> Iterator[None]:
    """pandas' exceptions while parsing become DataErrors that name the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield
    except pd.errors.ParserWarning:
        raise DataError(
            f"{path}: the data rows have more fields than the header line names columns; "
            "is there an extra delimiter at the end of each row?"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header line and data rows") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path} could not be parsed (delimiter {sep!r}): {_oneline(err)}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text: {err}") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path} could not be read: {_oneline(err)}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataError(f'reading {path} needs pyarrow: pip install "aiforge[parquet]"') from None
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path} could not be read as Parquet: {_oneline(err)}") from None


def check_header(path: Path, sep: str) -> None:
    """Names pandas would silently invent or change: an empty header cell becomes ``Unnamed: N``
    and a repeated name ``a`` becomes ``a.1``."""
    names = header_names(path, sep)
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise DataError(
                f"{path}: column {position} of the header line has no name"
                f"{' (a delimiter at the end of the line?)' if position == len(names) else ''}"
            )
    refuse_repeated_names(path, names)


def header_names(path: Path, sep: str) -> list[str]:
    """The header line's names as written (pandas renames repeated ones and names empty ones)."""
    header = pd.read_csv(
        path, sep=sep, header=None, nrows=1, skipinitialspace=True, keep_default_na=False, dtype=str
    )
    return [str(name) for name in header.iloc[0].tolist()] if len(header) else []


def refuse_repeated_names(path: Path, names: list[str], where: str = "the header line") -> None:
    """A name given to more than one column is a DataError; columns with no name are not named."""
    named = [name for name in names if name.strip()]
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        raise DataError(
            f"{path}: {where} names column(s) {', '.join(map(repr, repeated))} more than once; "
            "every column needs its own name"
        )


BOOLEAN_WORDS = {"true": 1.0, "false": 0.0}


def as_numbers(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The column as numbers, and a mask of the cells that are not numbers.

    One rule for training and ``predict``: numbers as they are, and the words ``true`` and
    ``false`` in any letter case (or a boolean column) as 1 and 0, alone or mixed with numbers;
    any other text is not a number. Missing cells are left missing and not in the mask.
    """
    if is_bool_dtype(column):
        return column.astype(np.int8), np.zeros(len(column), dtype=bool)
    if is_numeric_dtype(column):
        return column, np.zeros(len(column), dtype=bool)
    numbers = pd.to_numeric(column, errors="coerce")
    words = column.astype("string").str.strip().str.lower()
    for word, number in BOOLEAN_WORDS.items():
        numbers = numbers.mask((words == word).fillna(False), number)
    return numbers, (numbers.isna() & ~column.isna()).to_numpy()


def _oneline(err: Exception) -> str:
    return " ".join(str(err).split())
