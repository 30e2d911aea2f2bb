"""``Trainer.fit(resume_state=)`` is a shorthand for ``load_full_state``: the same load, and a
checkpoint of another model is the same CheckpointError (exit 2) the Orchestrator's resume gives."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.data.batching import TensorBatches
from aiforge.errors import CheckpointError
from aiforge.training.trainer import Trainer
from aiforge.utils.metrics import MetricSet


class Small(BaseModel):
    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.layer = nn.Linear(3, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.layer(x))


def _trainer(hidden: int) -> Trainer:
    model = Small(hidden)
    model.loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = MetricSet(["accuracy"], "classification", 2)
    return Trainer(model, optimizer, TrainingConfig(), torch.device("cpu"), metrics)


def _batches() -> TensorBatches:
    features = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    return TensorBatches(
        {"features": features, "labels": (features[:, 0] > 0).long()}, 4, shuffle=False, seed=0
    )


def test_a_checkpoint_of_another_model_is_a_checkpoint_error_through_fit() -> None:
    state = _trainer(hidden=4).full_state()
    with pytest.raises(
        CheckpointError, match=r"^the checkpoint does not fit the model \(Small\): .*size mismatch"
    ):
        _trainer(hidden=5).fit(_batches(), _batches(), epochs=1, resume_state=state)


def test_load_full_state_names_where_the_checkpoint_came_from() -> None:
    state = _trainer(hidden=4).full_state()
    with pytest.raises(CheckpointError, match=r"^the checkpoint in /x/run does not fit the model \(Small\)"):
        _trainer(hidden=5).load_full_state(state, source="the checkpoint in /x/run")


def test_fit_with_resume_state_is_load_full_state_then_fit() -> None:
    first = _trainer(hidden=4)
    first.fit(_batches(), _batches(), epochs=1)
    state = first.full_state()
    shorthand, explicit = _trainer(hidden=4), _trainer(hidden=4)
    shorthand.fit(_batches(), _batches(), epochs=2, resume_state=state)
    explicit.load_full_state(state)
    explicit.fit(_batches(), _batches(), epochs=2)
    assert shorthand.history == explicit.history
    assert "load_full_state" in inspect.getdoc(Trainer.fit)
