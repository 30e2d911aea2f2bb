"""``label_mapping.json``: the class names of a classification run, in the order of its outputs.

A run writes it once, when it starts. A resume checks it still says what the run would write
now; evaluate, predict and export name the model's outputs by it. A file that is not what a run
writes is an error naming it, never a warning and a fall back to class indices: the finished run
would be unusable, or would label its predictions wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiforge.errors import DataError

FORMAT = '{"task": ..., "classes": [the class names]}'


def labels_record(task: str, class_names: Sequence[Any]) -> dict[str, Any]:
    """What a run writes: its task and its class names as strings (how every command compares them)."""
    return {"task": task, "classes": [str(name) for name in class_names]}


def read_labels(path: Path, fix: str) -> dict[str, Any] | None:
    """The record in ``path``, or None when there is no such file; a DataError naming the file
    and what is wrong when it is not what a run writes. ``fix``: what the user can do then."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err}); {fix}") from None
    problem = _problem(data)
    if problem:
        raise DataError(f"{path}: {problem}; {fix}")
    # Runs before names were written as strings kept a plugin's numbers as they were.
    return {**data, "classes": [str(name) for name in data["classes"]]}


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
        return f"it holds {_kind(data)}, not what a run writes ({FORMAT})"
    classes = data["classes"]
    if not classes:
        return "its list of classes is empty"
    others = [name for name in classes if not isinstance(name, str | int | float) or isinstance(name, bool)]
    if others:
        return f"its classes must be names, but {len(others)} of {len(classes)} are not ({show(others)})"
    return None


def check_same_labels(path: Path, expected: dict[str, Any], fix: str) -> None:
    """The run's file must say what it would write now (``expected``): a resume continues the run
    that named its outputs by these classes."""
    saved = read_labels(path, fix)
    if saved is None:
        raise DataError(f"{path} is missing; {fix}")
    if saved.get("task") != expected["task"]:
        raise DataError(
            f"{path}: it says the task is {json.dumps(saved.get('task'))}, but the run is "
            f"{json.dumps(expected['task'])}; {fix}"
        )
    if saved["classes"] != expected["classes"]:
        found, now = saved["classes"], expected["classes"]
        raise DataError(
            f"{path}: its {count(len(found))} ({show(found)}) differ from the {count(len(now))} the data "
            f"gives now ({show(now)}); {fix}"
        )


def count(classes: int) -> str:
    """``3 classes``, ``1 class``."""
    return f"{classes} class{'es' * (classes != 1)}"


def _kind(data: Any) -> str:
    kinds = {dict: "an object without a list of classes", list: "a bare list", str: "a string"}
    return kinds.get(type(data), f"a {type(data).__name__}")


def show(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(json.dumps(value) for value in values[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")
