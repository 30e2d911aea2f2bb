"""A feed-forward network: Linear, activation, dropout, repeated, then a Linear head."""

from __future__ import annotations

from torch import nn

from aiforge.config.model_configs import SimpleNNConfig
from aiforge.core.base_model import BaseModel


class Model(BaseModel):
    """An MLP for tabular features; classification or regression by ``output_dim`` and loss."""

    config_class = SimpleNNConfig

    def __init__(self, model_config: SimpleNNConfig) -> None:
        super().__init__(model_config)
        if model_config.input_dim is None or model_config.output_dim is None:
            raise ValueError(
                "SimpleNNConfig needs input_dim and output_dim (AIForge fills them from the data)"
            )
        self.config = model_config
        activation = getattr(nn, model_config.activation_fn)
        layers: list[nn.Module] = []
        width = model_config.input_dim
        for _ in range(model_config.num_hidden_layers):
            layers += [
                nn.Linear(width, model_config.hidden_dim),
                activation(),
                nn.Dropout(model_config.dropout_rate),
            ]
            width = model_config.hidden_dim
        layers.append(nn.Linear(width, model_config.output_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(start_dim=1))
