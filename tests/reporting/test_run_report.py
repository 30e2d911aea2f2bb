"""The run report's validation predictions come from values (model, batches, task), not an Orchestrator."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.reporting import run_report
from aiforge.reporting.run_report import val_predictions

CPU = torch.device("cpu")


class Fixed(BaseModel):
    """Returns the features themselves as predictions."""

    def __init__(self) -> None:
        super().__init__()
        self.loss_fn = nn.MSELoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        return {"loss": torch.zeros(()), "predictions": self(batch["features"])}


def test_class_indices_from_logits_or_probabilities() -> None:
    scores = torch.tensor([[-0.5], [0.2], [0.7]])
    batches = [
        {"features": scores[:2], "labels": torch.tensor([0, 1])},
        {"features": scores[2:], "labels": torch.tensor([1])},
    ]
    targets, logits_predicted = val_predictions(Fixed(), batches, "classification", True, CPU)
    assert targets.tolist() == [0, 1, 1]
    assert logits_predicted.tolist() == [0, 1, 1]  # logit > 0
    _, probability_predicted = val_predictions(Fixed(), batches, "classification", False, CPU)
    assert probability_predicted.tolist() == [0, 0, 1]  # probability > 0.5


def test_multiclass_argmax_and_regression_values() -> None:
    batch = {"features": torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0]]), "labels": torch.tensor([1, 0])}
    assert val_predictions(Fixed(), [batch], "classification", True, CPU)[1].tolist() == [1, 0]
    regression = {"features": torch.tensor([[1.5], [2.5]]), "labels": torch.tensor([1.0, 2.0])}
    assert val_predictions(Fixed(), [regression], "regression", True, CPU)[1].tolist() == [1.5, 2.5]


def test_no_labels_no_predictions() -> None:
    assert val_predictions(Fixed(), [{"features": torch.zeros(2, 1)}], "classification", True, CPU) == (
        None,
        None,
    )


def test_it_does_not_know_the_orchestrator() -> None:
    assert "orchestrator" not in inspect.getsource(run_report).lower()
