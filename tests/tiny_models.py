"""Tiny BaseModel subclasses the Trainer and evaluation tests share."""

from __future__ import annotations

import torch
from torch import nn

from aiforge.core.base_model import BaseModel


class Linear(BaseModel):
    """One linear layer: the smallest model with weights a test can check."""

    def __init__(self, inputs: int = 3, outputs: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
