"""A feed-forward network: Linear, activation, dropout, repeated, then a Linear head."""

from __future__ import annotations

import torch
from torch import nn

from aiforge.config.model_configs import SimpleNNConfig
from aiforge.core.base_model import BaseModel


class Model(BaseModel):
    """An MLP for tabular features; classification or regression by ``output_dim`` and loss.

    With ``embedding_cardinalities`` (filled from the tabular plugin's data), the first that
    many input columns are category indices: each is embedded and joined with the other
    columns before the first layer. ``input_dim`` stays the width of the features tensor.
    """

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
        # getattr: a subclass's own config class may not declare the embedding fields.
        cardinalities = getattr(model_config, "embedding_cardinalities", None) or []
        self.embeddings: nn.ModuleList | None = None
        if cardinalities:  # only then: a model without embeddings keeps today's parameters
            if len(cardinalities) > width:
                raise ValueError(
                    f"SimpleNNConfig has {len(cardinalities)} embedding_cardinalities but input_dim={width}"
                )
            chosen = getattr(model_config, "embedding_dim", None)
            dims = [chosen or min(16, (n + 1) // 2) for n in cardinalities]
            self.embeddings = nn.ModuleList(
                nn.Embedding(n, d) for n, d in zip(cardinalities, dims, strict=True)
            )
            width = width - len(cardinalities) + sum(dims)
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
        x = x.flatten(start_dim=1)
        if self.embeddings is not None:
            x = torch.cat([*self._embedded(x), x[:, len(self.embeddings) :]], dim=1)
        return self.layers(x)

    def _embedded(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The first columns, category indices as floats, through their embeddings.

        Not checked here (that would wait for the GPU on every step): the tabular encoder only
        writes indices of its vocabularies, and an index out of range is torch's IndexError.
        """
        assert self.embeddings is not None
        return [embedding(x[:, j].long()) for j, embedding in enumerate(self.embeddings)]
