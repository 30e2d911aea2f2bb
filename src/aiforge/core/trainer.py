"""The earlier import path of the Trainer, which lives in :mod:`aiforge.training.trainer`."""

from aiforge.training.trainer import Trainer

__all__ = ["Trainer"]
