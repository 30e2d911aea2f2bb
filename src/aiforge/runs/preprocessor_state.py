"""Checks of a saved preprocessor state: a run folder is data, so its file may not set just anything.

``preprocessor.safetensors`` is read back with ``setattr`` for each key; without these checks
a key such as ``transform`` replaced a method, and a wrong-size tensor failed much later
without naming the file.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

from aiforge.numerics import all_finite

_ABSENT = object()


def key_problems(preprocessor: Any, keys: Iterable[Any]) -> list[str]:
    """Keys that the base ``load_state_dict``, which sets each one with ``setattr``, may not set.

    A key must be a public attribute name (the base ``state_dict`` writes no other) and must not
    replace a method or property of the class. A plugin with its own ``load_state_dict`` reads
    its keys itself, and none of this applies to it.
    """
    cls = type(preprocessor)
    problems = []
    for key in keys:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            problems.append(f"key {key!r} is not a public attribute name")
        elif _is_member(cls, key):
            problems.append(f"key {key!r} would replace the method or property {cls.__name__}.{key}")
    return problems


def reference_problems(saved: dict[str, Any], fitted: dict[str, Any]) -> list[str]:
    """How a loaded state differs in form from the same preprocessor fitted on the run's data.

    The same keys; tensors of the same shape and dtype, finite where the fitted ones are;
    other values of the same kind. Values may differ (that is what was saved).
    """
    problems = []
    unknown = sorted(set(saved) - set(fitted))
    missing = sorted(set(fitted) - set(saved))
    if unknown:
        problems.append(f"key(s) {unknown} that the preprocessor fitted on the run's data does not have")
    if missing:
        problems.append(f"no key(s) {missing}, which the preprocessor fitted on the run's data has")
    for key in sorted(set(saved) & set(fitted)):
        value, expected = saved[key], fitted[key]
        if _kind(value) != _kind(expected) and expected is not None:
            problems.append(
                f"key {key!r} is {_kind(value)}, but the fitted preprocessor has {_kind(expected)}"
            )
        elif isinstance(value, torch.Tensor) and isinstance(expected, torch.Tensor):
            problems += _tensor_problems(key, value, expected)
    return problems


def _tensor_problems(key: str, value: torch.Tensor, expected: torch.Tensor) -> list[str]:
    if value.shape != expected.shape:
        return [
            f"tensor {key!r} has shape {list(value.shape)}, but the preprocessor fitted on the run's "
            f"data has {list(expected.shape)}"
        ]
    if value.dtype != expected.dtype:
        return [f"tensor {key!r} is {_dtype(value)}, but the fitted preprocessor's is {_dtype(expected)}"]
    if value.is_floating_point() and all_finite([expected]) and not all_finite([value]):
        return [f"tensor {key!r} holds values that are not finite (NaN or infinity)"]
    return []


def _is_member(cls: type, key: str) -> bool:
    """A method, property or other descriptor of the class (a plain class-level default is not)."""
    member = inspect.getattr_static(cls, key, _ABSENT)
    return member is not _ABSENT and (callable(member) or hasattr(member, "__get__"))


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "a tensor"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
