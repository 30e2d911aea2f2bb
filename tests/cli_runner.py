"""The ``aiforge`` command as users run it, in a fresh process, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_aiforge(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 600, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m aiforge ARGS`` in ``cwd``; ``env``: variables set over this process's own."""
    return subprocess.run(
        [sys.executable, "-m", "aiforge", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )
