"""Settings of the ``text_classifier`` model plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from aiforge.config.model_configs import MAX_WIDTH
from aiforge.config.model_section import ModelSpecificConfig


class TextClassifierConfig(ModelSpecificConfig):
    """``vocab_size``, ``padding_index`` and ``output_dim`` are filled in from the data."""

    vocab_size: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Number of token ids (default: from the text preprocessor)."
    )
    padding_index: NonNegativeInt | None = Field(
        None, le=MAX_WIDTH, description="The padding token's id (default: from the text preprocessor)."
    )
    output_dim: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Outputs: classes, or 1 for regression (default: from the data)."
    )
    embedding_dim: PositiveInt = Field(64, le=MAX_WIDTH, description="Width of each token's embedding.")
    encoder: Literal["bag", "conv", "gru"] = Field(
        "bag",
        description="bag: mean of the embeddings; conv: 1-D convolution and max pooling; "
        "gru: bidirectional GRU, its last states. Padding never changes the result.",
    )
    hidden_dim: PositiveInt = Field(64, le=MAX_WIDTH, description="Width of the encoder's output.")
    kernel_size: PositiveInt = Field(3, le=99, description="conv: tokens each filter sees (odd).")
    dropout_rate: float = Field(0.2, ge=0.0, le=1.0, description="Dropout before the output layer.")
