"""Every exception class AIForge defines lives in aiforge.errors, the bottom layer (issue 17)."""

from __future__ import annotations

import importlib
import pkgutil

import aiforge


def _modules() -> list[str]:
    """Every module of the package but ``aiforge.__main__``, which runs the CLI when imported."""
    found = pkgutil.walk_packages(aiforge.__path__, "aiforge.")
    return [info.name for info in found if not info.name.endswith("__main__")]


def test_every_exception_class_is_defined_in_errors() -> None:
    elsewhere = set()
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra (onnx, mlflow server, ...) that is not installed
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("aiforge")
                and value.__module__ != "aiforge.errors"
            ):
                elsewhere.add(f"{value.__module__}.{value.__qualname__}")
    assert not elsewhere, f"define these in aiforge/errors.py: {sorted(elsewhere)}"


def test_the_old_homes_still_export_them() -> None:
    from aiforge import errors
    from aiforge.runs.files import LinkedRunFileError, RunFileError
    from aiforge.runtime.signals import RunInterrupted
    from aiforge.tracking.store_check import TrackingStoreError
    from aiforge.training.step_failures import TrainingError

    assert RunInterrupted is errors.RunInterrupted and issubclass(RunInterrupted, KeyboardInterrupt)
    assert TrainingError is errors.TrainingError and issubclass(TrainingError, RuntimeError)
    assert TrackingStoreError is errors.TrackingStoreError and issubclass(
        TrackingStoreError, errors.ConfigError
    )
    assert LinkedRunFileError is errors.LinkedRunFileError and issubclass(
        LinkedRunFileError, errors.AIForgeError
    )
    assert RunFileError is errors.RunFileError and issubclass(RunFileError, OSError)


def test_errors_imports_nothing_from_aiforge() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(aiforge.errors.__file__).read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("aiforge")]
