"""Feature scaling fitted on the training split (``preprocess_args: {scaler_type: standard}``)."""

from aiforge.data.scaling import FeatureScaler as Preprocessor

__all__ = ["Preprocessor"]
