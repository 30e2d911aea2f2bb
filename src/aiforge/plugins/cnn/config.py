"""Settings of the ``cnn`` model plugin, validated when the config is loaded."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from aiforge.config.model_configs import MAX_LAYERS, MAX_WIDTH
from aiforge.config.model_section import ModelSpecificConfig

ACTIVATIONS = Literal["ReLU", "GELU", "LeakyReLU", "SiLU", "Tanh", "Sigmoid"]


class CNNConfig(ModelSpecificConfig):
    """One conv block per entry of ``channels``, then global average pooling and a Linear head."""

    in_channels: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Image channels: 1 gray, 3 RGB (default: from the data)."
    )
    output_dim: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Outputs: classes, or 1 for regression (default: from the data)."
    )
    channels: list[PositiveInt] = Field(
        default_factory=lambda: [32, 64],
        min_length=1,
        max_length=MAX_LAYERS,
        description="Output channels of each block (Conv2d 3x3, BatchNorm, activation, MaxPool 2).",
    )
    batch_norm: bool = Field(True, description="BatchNorm2d after each convolution.")
    dropout_rate: float = Field(0.2, ge=0.0, le=1.0, description="Dropout before the Linear head.")
    activation_fn: ACTIVATIONS = Field("ReLU", description="Activation after each convolution.")
