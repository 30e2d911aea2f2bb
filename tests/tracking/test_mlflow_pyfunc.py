"""The pyfunc wrapper's input handling, without MLflow's loading (see test_mlflow_model_inputs)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from aiforge.tracking import mlflow_pyfunc
from aiforge.tracking.mlflow_pyfunc import TabularModel

NAMES = ["a", "b", "c"]
ROWS = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


class Echo(torch.nn.Module):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        assert features.dtype == torch.float64 and features.is_contiguous()
        return features * 1


def wrapper(names: list[str] = NAMES) -> TabularModel:
    return TabularModel(Echo(), names, "cpu")


@pytest.mark.parametrize(
    "data",
    [
        ROWS.astype(np.float32),
        ROWS.astype(np.int64),
        np.asfortranarray(ROWS),  # what DataFrame.to_numpy often gives
        pd.DataFrame(ROWS.astype(np.int64), columns=NAMES),
        pd.DataFrame(ROWS, columns=NAMES)[["c", "a", "b"]].assign(extra="ignored"),
        pd.DataFrame(ROWS),  # unnamed columns 0, 1, 2: by position, like an array
    ],
    ids=["float32", "int64", "column-major", "int frame", "shuffled frame", "unnamed frame"],
)
def test_inputs_become_a_new_writable_float64_matrix_in_feature_order(data):
    matrix = wrapper().matrix(data)
    assert matrix.dtype == np.float64 and matrix.flags.c_contiguous and matrix.flags.writeable
    assert matrix.flags.owndata and np.array_equal(matrix, ROWS)


def test_read_only_input_is_copied():
    # torch warns about a read-only array once per process: the flag, not the warning, is checked
    frozen = ROWS.copy()
    frozen.flags.writeable = False
    assert wrapper().matrix(frozen).flags.writeable
    np.testing.assert_array_equal(wrapper().predict(frozen), ROWS)


def test_one_row_as_a_flat_array():
    assert wrapper().matrix(np.array([1, 2, 3])).shape == (1, 3)


def test_a_frame_keeps_its_index():
    frame = pd.DataFrame(ROWS, columns=NAMES, index=["x", "y"])
    assert list(wrapper().predict(frame).index) == ["x", "y"]


GENERIC = ["f0", "f1", "f2"]  # the names of a dataset plugin without column names


def test_generic_feature_names_take_unnamed_columns_by_position():
    np.testing.assert_array_equal(wrapper(GENERIC).matrix(pd.DataFrame(ROWS)), ROWS)


def test_generic_feature_names_take_the_same_names_by_name():
    frame = pd.DataFrame(ROWS, columns=GENERIC)[["f2", "f0", "f1"]]
    np.testing.assert_array_equal(wrapper(GENERIC).matrix(frame), ROWS)


@pytest.mark.parametrize(
    "columns", [["p", "q", "r"], ["f0", "f1", "x"], [1, 2, 3]], ids=["named", "partly f", "not 0.."]
)
def test_generic_feature_names_refuse_other_named_columns(columns):
    # Regression: an f0.. model took any frame's columns by position, whatever they held.
    frame = pd.DataFrame(ROWS, columns=columns)
    with pytest.raises(MlflowException, match=r"f0, f1, \.\.\.|feature column 'f2' is missing"):
        wrapper(GENERIC).matrix(frame)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame(ROWS[:, :2], columns=["a", "c"]), "feature column 'b' is missing"),
        (pd.DataFrame(ROWS, columns=["x", "y", "z"]), "none of the model's feature columns"),
        (pd.DataFrame(ROWS, columns=NAMES).astype({"b": str}), "feature column 'b' holds"),
        (ROWS[:, :2], "rows of 3 features"),
        (np.array([["1", "2", "3"]]), "must be numbers"),
        ({"a": 1}, "DataFrame or a NumPy array, not dict"),
    ],
    ids=["missing column", "other names", "text column", "narrow array", "text array", "dict"],
)
def test_input_that_does_not_fit_is_a_clear_mlflow_error(data, message):
    with pytest.raises(MlflowException, match=message):
        wrapper().matrix(data)


def test_the_module_shipped_in_models_imports_nothing_from_aiforge():
    tree = ast.parse(Path(mlflow_pyfunc.__file__).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "aiforge"], imported
