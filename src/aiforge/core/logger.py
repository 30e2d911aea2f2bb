"""The seed's import path for the logger; it lives in :mod:`aiforge.runtime.log`."""

from aiforge.runtime.log import logger

__all__ = ["logger"]
