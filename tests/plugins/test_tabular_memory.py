"""The tabular plugin reads a text file in chunks of rows straight into one float32 matrix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aiforge.errors import DataError
from aiforge.plugins.tabular import reading
from aiforge.plugins.tabular.dataset import Dataset

MIB = 1024 * 1024


def load(path: Path, **args: object) -> Dataset:
    dataset = Dataset()
    dataset.load_data(str(path), **args)
    return dataset


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """About one row per chunk, so that small files cross many chunk boundaries."""
    monkeypatch.setattr(reading, "CHUNK_BYTES", 8)


def rows(count: int, row: Callable[[int], str]) -> str:
    return "".join(row(i) for i in range(count))


FILES = {
    "ints": "a,b,y\n" + rows(30, lambda i: f"{i},{-7 * i},{i % 3}\n"),
    "floats-scientific-negative": "a,b,c,y\n"
    + rows(30, lambda i: f"{i / 7:.9g},{-1.5e-3 * i:e},{i}E{i % 5 - 2},{'cat' if i % 3 else 'dog'}\n"),
    "int-column-with-a-float-and-sci": "a,b,y\n"
    + rows(30, lambda i: f"{'2.5' if i == 20 else i},1e3,{i % 2}\n"),
    "bools-as-numbers": "f,x,y\n" + rows(30, lambda i: f"{'True' if i % 2 else 'False'},{i},{i % 2}\n"),
    "float-target": "x,y\n" + rows(30, lambda i: f"{i},{i * 0.25 - 3}\n"),
    "whole-float-target": "x,y\n" + rows(30, lambda i: f"{i},{float(i % 4)}\n"),
    "text-target-with-NA": "x,y\n" + rows(30, lambda i: f"{i},{['EU', 'NA', 'APAC'][i % 3]}\n"),
    "big-values": "x,y\n" + rows(30, lambda i: f"{3.4e38 if i % 2 else -1e-45},{i % 2}\n"),
    "crlf": "a,b,y\r\n" + rows(30, lambda i: f"{i},{i / 3},{i % 2}\r\n"),
    "cr-only": "a,b,y\r" + rows(30, lambda i: f"{i},{i / 3},{i % 2}\r"),
    "no-final-newline": "a,b,y\n" + "\n".join(f"{i},{i / 3},{i % 2}" for i in range(30)),
    "blank-lines": "a,b,y\n\n" + rows(30, lambda i: f"{i}, {i / 3},{i % 2}\n\n"),
    "quoted-line-breaks": "a,b,y\n" + rows(30, lambda i: f'{i},{i / 3},"class\n{i % 2}"\n'),
    "mixed-line-breaks": "a,b,y\n" + rows(30, lambda i: f"{i},{i / 3},{i % 2}" + ("\r" if i % 2 else "\n")),
}


def whole_file_reference(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """What the plugin returned before it read in chunks: one pandas read, each column cast to float32."""
    frame = pd.read_csv(path, skipinitialspace=True, keep_default_na=False, na_values=[""], index_col=False)
    features = np.column_stack(
        [frame[name].to_numpy(dtype=np.float32) for name in frame.columns if name != target]
    )
    column = frame[target]
    if pd.api.types.is_float_dtype(column) and column.nunique() > 20:
        return features, column.to_numpy(dtype=np.float32)
    values = column.to_numpy()
    if pd.api.types.is_float_dtype(column):
        values = values.astype(np.int64)
    return features, np.unique(values, return_inverse=True)[1].reshape(-1)


@pytest.mark.parametrize("chunked", [False, True], ids=["one-chunk", "row-chunks"])
@pytest.mark.parametrize("name", list(FILES))
def test_same_tensors_as_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunked: bool
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(FILES[name].encode())
    if chunked:
        monkeypatch.setattr(reading, "CHUNK_BYTES", 8)
    ds = load(path)
    features, labels = whole_file_reference(path, "y")
    assert ds.features.numbers.dtype == torch.float32
    assert ds.features.numbers.is_contiguous()
    assert ds.features.numbers.shape == features.shape
    assert ds.features.numbers.numpy().tobytes() == features.tobytes()  # bit for bit, -0.0 and all
    assert ds.labels.numpy().tolist() == labels.tolist()
    assert ds.labels.dtype == (torch.float32 if ds.task == "regression" else torch.long)


def test_values_as_written(tmp_path: Path, tiny_chunks: None) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,y\n1,-2.5,1e3,0.5\n-4,+6.25E-2,-7E+1,1.5\n16777217,0.1,-0.5,2.25\n")
    ds = load(path)
    assert ds.task == "regression"
    expected = np.array([[1, -2.5, 1000], [-4, 0.0625, -70], [16777217, 0.1, -0.5]], dtype=np.float32)
    assert ds.features.numbers.numpy().tobytes() == expected.tobytes()
    assert ds.labels.tolist() == [0.5, 1.5, 2.25]


def test_classes_from_integer_and_text_targets(tmp_path: Path, tiny_chunks: None) -> None:
    path = tmp_path / "data.csv"
    path.write_text("x,y\n" + rows(12, lambda i: f"{i},{[10, 2, 7][i % 3]}\n"))
    ds = load(path)
    assert (ds.task, ds.class_names, ds.labels.dtype) == ("classification", ["2", "7", "10"], torch.long)
    assert ds.labels.tolist() == [2, 0, 1] * 4
    path.write_text("x,y\n" + rows(12, lambda i: f"{i},{['b', 'a', '3'][i % 3]}\n"))
    ds = load(path)  # "3" alone in its chunk is read as a number, yet stays the class "3"
    assert ds.class_names == ["3", "a", "b"]
    assert ds.labels.tolist() == [2, 1, 0] * 4


BAD = [
    ("text feature", "x,z,y\n" + rows(20, lambda i: f"{i},{'abc' if i == 13 else i},{i % 2}\n"),
     {"column_types": {"z": "number"}},
     "column 'z' row 14 (line 15 of the file): 'abc' is not a number"),
    ("infinite feature", "x,z,y\n" + rows(20, lambda i: f"{i},{'1e39' if i == 13 else i},{i % 2}\n"), {},
     "column 'z' row 14 (line 15 of the file): 1e+39 is not a finite float32 number"),
    ("missing target", "x,y\n" + rows(20, lambda i: f"{i},{'' if i == 17 else i % 2}\n"), {},
     "missing value in column 'y' at row 18 (line 19 of the file)"),
    ("text target", "x,y\n" + rows(20, lambda i: f"{i},{'high' if i == 17 else i * 0.5}\n"),
     {"task": "regression"}, "column 'y' row 18 (line 19 of the file): 'high' is not a number"),
    ("ragged row", "x,z,y\n" + rows(20, lambda i: f"{i},{i},{i % 2}{',9' if i == 13 else ''}\n"), {},
     "Expected 3 fields in line 15, saw 4"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "args", "message"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_errors_name_the_same_cell_in_any_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, args: dict[str, object], message: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(DataError) as whole:
        load(path, **args)
    monkeypatch.setattr(reading, "CHUNK_BYTES", 8)
    with pytest.raises(DataError) as chunked:
        load(path, **args)
    assert message in str(whole.value)
    assert str(chunked.value) == str(whole.value)


def test_a_large_file_is_read_in_parts_into_one_matrix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n" + rows(2000, lambda i: f"{i},{i / 4},{i % 2}\n"))
    monkeypatch.setattr(reading, "CHUNK_BYTES", 4096)
    sizes: list[int] = []
    get_chunk = pd.io.parsers.TextFileReader.get_chunk

    def spy(self: pd.io.parsers.TextFileReader, size: int | None = None) -> pd.DataFrame:
        frame = get_chunk(self, size)
        sizes.append(len(frame))
        return frame

    monkeypatch.setattr(pd.io.parsers.TextFileReader, "get_chunk", spy)
    ds = load(path)
    assert sum(sizes) == 2000 and len(sizes) > 5 and max(sizes) < 500
    # The matrix is allocated once for all rows: no spare rows, no copy of a larger array.
    assert ds.features.numbers.untyped_storage().nbytes() == 2000 * 2 * 4
    assert ds.features.numbers[:, 0].tolist() == list(range(2000))


def fixed_width_csv(path: Path, n_rows: int, n_cols: int) -> None:
    """Random numbers such as ``-123.456`` (and a class label), written without a per-row loop."""
    rng = np.random.default_rng(0)
    thousandths = rng.integers(-999_999, 1_000_000, (n_rows, n_cols))
    cells = np.empty((n_rows, n_cols, 9), dtype=np.uint8)
    cells[..., 0] = np.where(thousandths < 0, ord("-"), ord("+"))
    magnitude = np.abs(thousandths)
    for k, power in zip((1, 2, 3, 5, 6, 7), (5, 4, 3, 2, 1, 0), strict=True):
        cells[..., k] = ord("0") + magnitude // 10**power % 10
    cells[..., 4], cells[..., 8] = ord("."), ord(",")
    ends = np.empty((n_rows, 2), dtype=np.uint8)
    ends[:, 0], ends[:, 1] = ord("0") + rng.integers(0, 5, n_rows), ord("\n")
    header = ",".join([*(f"f{j}" for j in range(n_cols)), "y"]) + "\n"
    body = np.concatenate([cells.reshape(n_rows, -1), ends], axis=1)
    path.write_bytes(header.encode() + body.tobytes())


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from aiforge.plugins.tabular.dataset import Dataset

    def peak():
        # VmHWM is this process's peak; ru_maxrss would start at the parent's (Linux keeps it
        # across exec), which here is pytest's and may be higher than anything loaded below.
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

    Dataset().load_data(sys.argv[2])  # a tiny file first: pandas' parser and its imports are loaded
    before = peak()
    dataset = Dataset()
    dataset.load_data(sys.argv[1])
    print(json.dumps({"rise": peak() - before, "array": dataset.features.numbers.numel() * 4}))
    """
)


@pytest.mark.slow  # a fresh Python process and a 30 MB file: about 3 seconds
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_peak_memory_of_a_numeric_csv_stays_near_its_float32_matrix(tmp_path: Path) -> None:
    # 200,000 x 16: the float32 matrix is 12 MiB. Reading the whole file as a float64 frame and
    # converting it took ~92 MiB (7.5x); chunked reading takes ~33 MiB, the chunk being parsed
    # included. The bound is the 2.5x plus 32 MiB for one chunk and allocator slack.
    big, tiny = tmp_path / "big.csv", tmp_path / "tiny.csv"
    fixed_width_csv(big, 200_000, 16)
    tiny.write_text("a,b,y\n1,2,0\n3,4,1\n")
    child = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(big), str(tiny)], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["array"] == 200_000 * 16 * 4
    assert result["rise"] <= 2.5 * result["array"] + 32 * MIB, (
        f"peak rose {result['rise'] / MIB:.0f} MiB for a {result['array'] / MIB:.0f} MiB matrix"
    )


def test_a_pipe_is_refused_with_a_clear_message_instead_of_hanging(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "stream.csv"
    os.mkfifo(fifo)  # nothing writes to it: opening it to read would wait for ever
    with pytest.raises(DataError, match=r"stream\.csv is not a regular file .*save it to a file first"):
        reading.read_table(fifo, None)
