"""A trained model with its preprocessing, as one module: raw features in, predictions out."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import BasePreprocessor

CHUNK_ROWS = 8192  # rows per forward pass, so a large input does not need one huge tensor


class InferenceModel(nn.Module):
    """Preprocess, run the model, and turn logits into probabilities for classification.

    Used for MLflow's pyfunc flavour (a DataFrame of raw feature columns in) and for
    exports, so a served model never needs the preprocessor applied by hand.
    """

    def __init__(
        self,
        model: BaseModel,
        preprocessor: BasePreprocessor | None,
        task: str,
        feature_shape: tuple[int, ...] | None,
        logits: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.task = task
        self.feature_shape = tuple(feature_shape) if feature_shape is not None else None
        self.logits = logits

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Numeric features (what exports take); rows may arrive flattened (a DataFrame's columns)."""
        features = features.to(torch.get_default_dtype())
        if self.feature_shape is not None:
            features = features.reshape(-1, *self.feature_shape)  # restore the trained shape
        return self.from_raw(features)

    def from_raw(self, raw_features: object) -> torch.Tensor:
        """Predictions for features as the dataset holds them: tensors, or a plugin's raw values
        (a table of mixed columns, texts) that its preprocessor turns into tensors."""
        features = raw_features
        if self.preprocessor is not None:
            features = self.preprocessor.transform_batch({"features": features})["features"]
        outputs = self.model(features)
        if self.task != "classification":
            return outputs.squeeze(-1) if outputs.dim() == 2 and outputs.shape[-1] == 1 else outputs
        if outputs.dim() == 2 and outputs.shape[-1] > 1:
            return outputs.softmax(dim=-1)
        probability = (outputs.sigmoid() if self.logits else outputs).reshape(-1, 1)
        return torch.cat([1 - probability, probability], dim=-1)  # two columns, like multiclass


def model_outputs(predict: Any, features: Any, count: int, chunk_rows: int = CHUNK_ROWS) -> Any:
    """``predict`` over ``features`` (``count`` rows, sliced ``chunk_rows`` at a time) as one
    NumPy array of shape (rows, outputs): a large input never needs one huge batch."""
    chunks = []
    with torch.no_grad():
        for start in range(0, count, chunk_rows):
            chunks.append(predict(features[start : start + chunk_rows]).cpu())
    return torch.cat(chunks).reshape(count, -1).numpy()
