"""The first sketch's import path of the built-in scaler, which lives in :mod:`aiforge.data.scaling`.

Kept so that plugins written against it, and MLflow models pickled before the move, still load.
"""

from aiforge.data.scaling import FeatureScaler

__all__ = ["FeatureScaler"]
