"""`aiforge predict` reads the header as written: unnamed extra columns kept, repeated names refused.

Regression: predict used the training-side header check, which refuses an empty header cell, so
the file ``df.to_csv(path)`` writes (its index as a first column with no name) was refused;
the README says extra columns are kept and ignored.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from aiforge.cli import main

IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def run_copy(iris_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(iris_run, copy)
    return copy


def _predict(run_dir: Path, input_path: Path, output: Path, capsys) -> tuple[int, str]:
    code = main(["predict", str(run_dir), "--input", str(input_path), "--output", str(output)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_frame_written_with_its_index_is_predicted(run_copy, tmp_path, capsys, suffix):
    path = tmp_path / f"rows{suffix}"
    pd.DataFrame(ROWS, columns=IRIS_FEATURES, index=[10, 11]).to_csv(
        path, sep="\t" if suffix == ".tsv" else ","
    )  # index=True: the header line starts with an empty cell
    assert path.read_text(encoding="utf-8").splitlines()[0].startswith("," if suffix == ".csv" else "\t")
    output = tmp_path / "out.csv"
    code, err = _predict(run_copy, path, output, capsys)
    assert code == 0, err
    predicted = pd.read_csv(output)
    assert predicted.iloc[:, 0].tolist() == [10, 11]  # the unnamed column is kept, as it was
    assert predicted[IRIS_FEATURES].values.tolist() == ROWS
    assert predicted["prediction"].notna().all()


def test_several_unnamed_columns_are_kept(run_copy, tmp_path, capsys):
    path = tmp_path / "rows.csv"
    lines = [",".join(["", *IRIS_FEATURES, ""]), *(f"a,{','.join(map(str, row))},b" for row in ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    code, err = _predict(run_copy, path, output, capsys)
    assert code == 0, err
    assert len(pd.read_csv(output)) == 2


def test_repeated_names_are_still_refused(run_copy, tmp_path, capsys):
    path = tmp_path / "rows.csv"
    header = ",".join(["", *IRIS_FEATURES, "x", "x"])
    path.write_text(header + "\n0,5.1,3.5,1.4,0.2,1,2\n", encoding="utf-8")
    code, err = _predict(run_copy, path, tmp_path / "out.csv", capsys)
    assert code == 2 and str(path) in err and "more than once" in err and "'x'" in err
    assert not (tmp_path / "out.csv").exists()


def test_repeated_names_in_parquet_are_refused_by_name(run_copy, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    columns = [pa.array([value]) for value in [*ROWS[0], 1.0]]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_arrays(columns, names=[*IRIS_FEATURES, IRIS_FEATURES[1]]), path)
    code, err = _predict(run_copy, path, tmp_path / "out.csv", capsys)
    # Before: "could not be read: Multiple matches for FieldRef.Name(...)", pyarrow's words.
    assert code == 2 and str(path) in err and "more than once" in err and repr(IRIS_FEATURES[1]) in err
