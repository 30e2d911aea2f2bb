"""One rich Console for logs and the progress display, so they never draw over each other."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def get_console() -> Any:
    """The shared stderr console (created on first use, not at import)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)
