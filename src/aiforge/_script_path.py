"""The working directory on ``sys.path``: what ``python -m``/``-c`` add and the console script does not.

Only ``sys`` and ``os`` are used, so ``python -m aiforge`` can drop the entry before anything
else is imported.
"""

from __future__ import annotations

import os
import sys


def working_directory_entry() -> str | None:
    """``sys.path[0]`` when Python put the working directory there (``python -m``, ``-c``, the REPL).

    Under ``-P``/``PYTHONSAFEPATH`` Python adds nothing, so a first entry equal to the working
    directory came from the user (``PYTHONPATH=.``) and is theirs to keep.
    """
    if not sys.path or getattr(sys.flags, "safe_path", False):
        return None
    first = sys.path[0]
    if first == "":
        return first
    try:
        return first if os.path.samefile(first, os.getcwd()) else None
    except OSError:
        return None


def drop_working_directory() -> None:
    """Make ``python -m aiforge`` import like the ``aiforge`` script: nothing from the working directory.

    Otherwise a file there named like a module AIForge imports on first use (``torchmetrics.py``,
    ``onnx.py``, a plugin's dependency) would run in its place. A package in the working
    directory is still importable the way it is for the script: with ``PYTHONPATH=.``.
    """
    if working_directory_entry() is not None:
        del sys.path[0]
