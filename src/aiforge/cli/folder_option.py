"""The type of the folder options (``--results-dir``, ``--plugins-dir``): a path, never empty.

argparse's ``type=Path`` turns '' into Path('.'), so an empty value (an unset shell variable,
``--results-dir "$DIR"``) would quietly mean the working directory. As for AIFORGE_RESULTS_DIR=,
it is refused (exit 2), and '.' says the working directory on purpose.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def folder(text: str) -> Path:
    """``text`` as a Path; an empty or blank value is a usage error."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a folder ('.' for the working directory)")
    return Path(text)
