"""Token ids [B, L] in, class scores out; padded positions never change the result."""

from __future__ import annotations

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.plugins.text_classifier.config import TextClassifierConfig


class Model(BaseModel):
    """Embeddings, one of three encoders (``bag``, ``conv``, ``gru``), dropout and a linear head."""

    config_class = TextClassifierConfig

    def __init__(self, model_config: TextClassifierConfig) -> None:
        super().__init__(model_config)
        config = model_config
        if config.vocab_size is None or config.padding_index is None or config.output_dim is None:
            raise ValueError(
                "TextClassifierConfig needs vocab_size, padding_index and output_dim "
                "(AIForge fills them from the text dataset's preprocessor)"
            )
        if config.padding_index >= config.vocab_size:
            raise ValueError(
                f"padding_index {config.padding_index} must be below vocab_size {config.vocab_size}"
            )
        if config.encoder == "conv" and config.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for the conv encoder, not {config.kernel_size}")
        self.config = config
        self.padding_index = config.padding_index
        self.embedding = nn.Embedding(
            config.vocab_size, config.embedding_dim, padding_idx=config.padding_index
        )
        if config.encoder == "bag":
            self.encoder: nn.Module = nn.Sequential(
                nn.Linear(config.embedding_dim, config.hidden_dim), nn.ReLU()
            )
            width = config.hidden_dim
        elif config.encoder == "conv":
            self.encoder = nn.Conv1d(
                config.embedding_dim, config.hidden_dim, config.kernel_size, padding=config.kernel_size // 2
            )
            width = config.hidden_dim
        else:
            self.encoder = nn.GRU(
                config.embedding_dim, config.hidden_dim, batch_first=True, bidirectional=True
            )
            width = 2 * config.hidden_dim
        self.head = nn.Sequential(nn.Dropout(config.dropout_rate), nn.Linear(width, config.output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != self.padding_index  # [B, L]: real tokens
        embedded = self.embedding(x) * mask.unsqueeze(-1)  # padding contributes exact zeros
        encoder = self.config.encoder
        if encoder == "bag":
            counts = mask.sum(dim=1, keepdim=True).clamp(min=1)
            encoded = self.encoder(embedded.sum(dim=1) / counts)
        elif encoder == "conv":
            features = torch.relu(self.encoder(embedded.transpose(1, 2)))  # [B, H, L]
            # Max over real positions only (a text of padding alone gives zeros).
            features = features.masked_fill(~mask.unsqueeze(1), float("-inf"))
            encoded = features.amax(dim=2).clamp(min=0)
        else:
            encoded = self._gru(embedded, mask)
        return self.head(encoded)

    def _gru(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last state of each direction, over each text's own tokens (packed: padding unseen)."""
        from torch.nn.utils.rnn import pack_padded_sequence

        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, hidden = self.encoder(packed)  # [2, B, H]
        return torch.cat([hidden[0], hidden[1]], dim=1)
