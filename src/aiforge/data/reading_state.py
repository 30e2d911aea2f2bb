"""Checks for a dataset's ``reading_state``: how it reads raw input columns, saved as JSON.

A saved state is data (an MLflow model's ``reading_state.json``): every value is checked before
a Dataset's ``restore_reading`` sets it, and a bad one is a ValueError saying which key is wrong.
"""

from __future__ import annotations

from typing import Any

TASKS = ("classification", "regression")


def checked_keys(state: object, keys: tuple[str, ...], plugin: str) -> dict[str, Any]:
    """``state`` as a dict with exactly ``keys``; anything else is a ValueError."""
    if not isinstance(state, dict):
        raise ValueError(f"{plugin}: the reading state must be a mapping, not {type(state).__name__}")
    if set(state) != set(keys):
        raise ValueError(
            f"{plugin}: the reading state needs the keys {sorted(keys)}, found {sorted(map(str, state))}"
        )
    return state


def name(value: object, key: str, plugin: str, optional: bool = False) -> str | None:
    """A column name (text); None only when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{plugin}: reading state {key!r} must be a column name, not {value!r}")
    return value


def task(value: object, plugin: str) -> str | None:
    """``classification``, ``regression`` or None (not known)."""
    if value is not None and value not in TASKS:
        raise ValueError(f"{plugin}: reading state 'task' must be one of {', '.join(TASKS)}, not {value!r}")
    return value  # type: ignore[return-value]
