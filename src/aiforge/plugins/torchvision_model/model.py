"""A torchvision classification model (ResNet, MobileNet, EfficientNet, ViT, ...) by name.

Nothing is downloaded: the model starts from random weights, or from a local state dict
(``weights_file``). Gray images (``in_channels: 1``) are repeated to three channels in
``forward``, so weights trained on RGB photos apply unchanged; another channel count
replaces the first convolution (its weights are then not taken from ``weights_file``).
"""

from __future__ import annotations

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.plugins.torchvision_model import building
from aiforge.plugins.torchvision_model.config import TorchvisionModelConfig


class Model(BaseModel):
    """torchvision's ``get_model(name, weights=None, num_classes=output_dim)`` for ``[N, C, H, W]`` floats."""

    config_class = TorchvisionModelConfig

    def __init__(self, model_config: TorchvisionModelConfig) -> None:
        super().__init__(model_config)
        if model_config.in_channels is None or model_config.output_dim is None:
            raise ValueError(
                "TorchvisionModelConfig needs in_channels and output_dim (AIForge fills them from "
                "image data of shape [N, C, H, W])"
            )
        self.config = model_config
        self.network = building.build(model_config.name, model_config.output_dim, model_config.model_args)
        self.repeat_gray = model_config.in_channels == 1
        replaced: tuple[str, ...] = ()
        if model_config.in_channels not in (1, 3):
            replaced = (_replace_first_conv(self.network, model_config.in_channels),)
        if model_config.weights_file is not None:
            building.load_weights(
                self.network, model_config.weights_file, model_config.name, model_config.output_dim, replaced
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"torchvision_model takes images of shape [N, C, H, W], got a batch of shape {list(x.shape)}"
            )
        if self.repeat_gray:
            x = x.repeat(1, 3, 1, 1)
        out = self.network(x)
        return out if isinstance(out, torch.Tensor) else out[0]  # Inception/GoogLeNet's aux outputs


def _replace_first_conv(network: nn.Module, in_channels: int) -> str:
    """Swap the first Conv2d for one taking ``in_channels``; its name, for the weights loader to skip."""
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = network.get_submodule(parent_name) if parent_name else network
            setattr(
                parent,
                attr,
                nn.Conv2d(
                    in_channels,
                    module.out_channels,
                    module.kernel_size,
                    module.stride,
                    module.padding,
                    module.dilation,
                    module.groups if module.groups == 1 else in_channels,
                    module.bias is not None,
                    module.padding_mode,
                ),
            )
            return f"{name}."
    raise ValueError("this torchvision model has no Conv2d to adapt to in_channels")
