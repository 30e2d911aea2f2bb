"""Feature scaling shared by the built-in dataset plugins."""

from __future__ import annotations

from typing import Any, Literal

import torch

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.errors import ArgumentError
from aiforge.numerics import all_finite

ScalerType = Literal["standard", "minmax", "none"]


class FeatureScaler(BasePreprocessor):
    """Standard (mean 0, std 1) or min-max scaling of ``features``, fitted on the train split.

    ``preprocess_args``: ``scaler_type`` is ``standard`` (default), ``minmax`` or ``none``.
    """

    def __init__(self) -> None:
        self.scaler_type: str = "standard"
        self.shift: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    def fit(self, features: torch.Tensor, scaler_type: ScalerType = "standard") -> None:
        if scaler_type not in ("standard", "minmax", "none"):
            raise ArgumentError(f"scaler_type must be standard, minmax or none, not {scaler_type!r}")
        features = torch.as_tensor(features, dtype=torch.float32)
        self.scaler_type = scaler_type
        if scaler_type == "standard":
            self.shift = features.mean(dim=0)
            spread = features.std(dim=0, unbiased=False)
        elif scaler_type == "minmax":
            self.shift = features.amin(dim=0)
            spread = features.amax(dim=0) - self.shift
        else:
            self.shift = torch.zeros(features.shape[1:])
            spread = torch.ones(features.shape[1:])
        # A constant column would divide by zero; leave it centred instead.
        self.scale = torch.where(spread > 1e-12, spread, torch.ones_like(spread))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A saved state; a ValueError says what in it this scaler cannot use."""
        super().load_state_dict(state)
        if self.scaler_type not in ("standard", "minmax", "none"):
            raise ValueError(f"scaler_type must be standard, minmax or none, not {self.scaler_type!r}")
        for key in ("shift", "scale"):
            value = getattr(self, key)
            if not isinstance(value, torch.Tensor) or value.dtype != torch.float32:
                found = str(value.dtype).removeprefix("torch.") if isinstance(value, torch.Tensor) else value
                raise ValueError(f"{key!r} must be a float32 tensor, not {found}")
            if not all_finite([value]):
                raise ValueError(f"{key!r} holds values that are not finite (NaN or infinity)")
        shift, scale = self._fitted()
        if shift.shape != scale.shape:
            raise ValueError(
                f"'shift' and 'scale' must have one shape, not {list(shift.shape)} and {list(scale.shape)}"
            )
        if not bool((scale > 0).all()):
            raise ValueError("'scale' must be positive")

    def _fitted(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shift is None or self.scale is None:
            raise RuntimeError("FeatureScaler is not fitted: call fit() or load() first")
        return self.shift, self.scale

    def transform(self, data_item: Item) -> Item:
        shift, scale = self._fitted()
        features = torch.as_tensor(data_item["features"]).to(shift.dtype)
        return {**data_item, "features": (features - shift) / scale}

    def transform_batch(self, batch: Item) -> Item:
        return self.transform(batch)  # broadcasting makes the item form work on batches

    def inverse_transform(self, data_item: Item) -> Item:
        shift, scale = self._fitted()
        return {**data_item, "features": data_item["features"] * scale + shift}
