"""Writing config files in tests: YAML from a mapping, or text as given."""

from __future__ import annotations

from pathlib import Path

import yaml


def write(path: Path, data: dict | str) -> Path:
    """``data`` at ``path`` (folders made), as YAML unless it is text already; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path
