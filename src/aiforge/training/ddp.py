"""The model as DistributedDataParallel sees it under torchrun."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import Item


class TrainingStep(nn.Module):
    """Routes ``training_step`` through ``forward``: DistributedDataParallel synchronises the
    gradients of what runs through its wrapper's forward, and of nothing else."""

    def __init__(self, model: BaseModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Item, batch_idx: int) -> dict[str, Any]:
        return self.model.training_step(batch, batch_idx)


def wrap_for_ddp(model: BaseModel, device: torch.device) -> nn.Module:
    """``model``'s training step in DistributedDataParallel, on this process's GPU or the CPU."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return DistributedDataParallel(TrainingStep(model), device_ids=device_ids)
