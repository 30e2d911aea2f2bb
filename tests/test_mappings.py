"""aiforge.mappings.flatten: the one nested-mapping flattener (run comparison, report, MLflow params)."""

from __future__ import annotations

import importlib

import pytest

from aiforge.mappings import flatten


def test_nested_keys_become_dotted_names() -> None:
    data = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None, 3: "x"}
    assert flatten(data) == {"a.b": 1, "a.c.d": [1, 2], "e": None, "3": "x"}


def test_an_empty_mapping_inside_is_a_value_and_an_empty_top_is_nothing() -> None:
    assert flatten({"a": {}, "b": {"c": {}}}) == {"a": {}, "b.c": {}}
    assert flatten({}) == {}


def test_the_order_is_the_input_order() -> None:
    assert list(flatten({"z": 1, "a": {"y": 2, "b": 3}, "c": 4})) == ["z", "a.y", "a.b", "c"]


def test_a_value_that_is_not_a_mapping_is_one_unnamed_entry() -> None:
    assert flatten(5) == {"": 5}


def test_the_three_callers_keep_their_output() -> None:
    from aiforge.inference_commands.runs import flatten as runs_flatten
    from aiforge.reporting.report import _flatten as report_flatten
    from aiforge.utils.callbacks import MLflowCallback  # the seed's path, imported first as a run does

    mlflow_flatten = importlib.import_module(MLflowCallback.__module__).flatten

    data = {"a": {"b": 1, "c": [1, 2], "e": {}}, "d": 0.5, "t": (1, "x")}
    assert runs_flatten(data) == {"a.b": 1, "a.c": [1, 2], "a.e": {}, "d": 0.5, "t": (1, "x")}
    assert list(report_flatten(data)) == list(runs_flatten(data).items())
    assert mlflow_flatten(data) == {"a.b": "1", "a.c": "[1, 2]", "d": "0.5", "t": '[1, "x"]'}
    assert mlflow_flatten({}) == {} and mlflow_flatten(7) == {"": "7"}


def test_set_at_path_makes_missing_levels_and_names_a_level_that_is_not_a_mapping() -> None:
    from aiforge.mappings import set_at_path

    data = {"a": None, "b": {"c": 3}}
    set_at_path(data, "a.x.y", 1)
    set_at_path(data, "b.d", 2)
    assert data == {"a": {"x": {"y": 1}}, "b": {"c": 3, "d": 2}}
    with pytest.raises(ValueError, match=r"^'b\.c' is 3, not a mapping$"):
        set_at_path(data, "b.c.e", 0)
