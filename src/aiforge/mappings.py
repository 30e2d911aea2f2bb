"""Nested mappings as flat dotted keys: the one helper behind run comparison, the report's
environment table and MLflow's params. Imports nothing from AIForge (any layer may use it)."""

from __future__ import annotations

from typing import Any


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, in the input's order; lists and other values stay as
    they are, and an empty mapping inside is kept as a value (``{"a": {}}`` -> ``{"a": {}}``).
    A value that is not a mapping at the top is ``{prefix: data}``."""
    if not isinstance(data, dict) or (not data and prefix):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def set_at_path(data: dict[str, Any], key_path: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings, making the missing (or null) levels on the way.

    A level that holds something other than a mapping is a ValueError naming it
    (``'a.b' is 3, not a mapping``); callers add which key path they were setting.
    """
    parts = key_path.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ValueError(f"'{'.'.join(parts[: depth + 1])}' is {child!r}, not a mapping")
        node = child
    node[parts[-1]] = value
