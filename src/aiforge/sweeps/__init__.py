"""Hyperparameter sweeps on Optuna: ``aiforge sweep`` and :class:`Sweep`. Names load lazily."""

from typing import TYPE_CHECKING

from aiforge._lazy import lazy_exports

_EXPORTS = {"Sweep": "aiforge.sweeps.sweep", "SweepConfig": "aiforge.sweeps.config"}
__all__ = ["Sweep", "SweepConfig"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from aiforge.sweeps.config import SweepConfig
    from aiforge.sweeps.sweep import Sweep
