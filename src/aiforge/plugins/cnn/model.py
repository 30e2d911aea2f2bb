"""A small configurable CNN: conv blocks, global average pooling, a Linear head.

Global average pooling makes the head independent of the image size, so one config fits
28x28 digits and 224x224 photos alike; pooling rounds up (``ceil_mode``), so even an image
smaller than 2**len(channels) pixels passes every block.
"""

from __future__ import annotations

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.plugins.cnn.config import CNNConfig


class Model(BaseModel):
    """Image classifier (or regressor) for float batches of shape ``[N, C, H, W]``."""

    config_class = CNNConfig

    def __init__(self, model_config: CNNConfig) -> None:
        super().__init__(model_config)
        if model_config.in_channels is None or model_config.output_dim is None:
            raise ValueError(
                "CNNConfig needs in_channels and output_dim (AIForge fills them from image data of "
                "shape [N, C, H, W]; set model_config.in_channels for other data)"
            )
        self.config = model_config
        activation = getattr(nn, model_config.activation_fn)
        layers: list[nn.Module] = []
        width = model_config.in_channels
        for out in model_config.channels:
            layers.append(nn.Conv2d(width, out, kernel_size=3, padding=1, bias=not model_config.batch_norm))
            if model_config.batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers += [activation(), nn.MaxPool2d(2, ceil_mode=True)]
            width = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(model_config.dropout_rate), nn.Linear(width, model_config.output_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"the cnn model takes images of shape [N, C, H, W], got a batch of shape {list(x.shape)}"
            )
        return self.head(self.features(x).mean(dim=(2, 3)))
