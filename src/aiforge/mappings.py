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
