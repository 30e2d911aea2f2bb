"""The MLflow model: a traced graph (pt2) where torch.export can trace the model, pickled otherwise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aiforge.tracking import mlflow_model
from aiforge.tracking.mlflow_model import example_rows, pt2_problem

ROWS = torch.randn(5, 4, dtype=torch.float64)


class Scaled(nn.Module):
    """What an inference model does: cast, scale, a linear layer, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features.float() * 2.0).softmax(dim=-1)


class BranchesOnValues(Scaled):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.sum() > 0:  # Python control flow on a tensor's value: not traceable
            return super().forward(features)
        return super().forward(-features)


class BranchesOnTheBatchSize(Scaled):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[0] > 3:  # a trace that quietly narrowed the batch would fail on 1 row
            return super().forward(features)
        return super().forward(features * 0.5)


class FixesTheBatch(Scaled):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return super().forward(features.reshape(5, 4))  # only ever 5 rows


def test_a_traceable_model_is_stored_as_a_graph():
    assert pt2_problem(Scaled().eval(), ROWS) is None


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (BranchesOnValues(), "torch.export cannot trace it ("),
        (BranchesOnTheBatchSize(), "torch.export cannot trace it ("),
        (FixesTheBatch(), "the model itself fails on 6 rows or one row (RuntimeError: "),
    ],
    ids=["branches on values", "branches on the batch size", "fixed batch"],
)
def test_a_model_the_graph_cannot_serve_says_why(model, reason):
    problem = pt2_problem(model.eval(), ROWS)
    assert problem is not None and problem.startswith(reason), problem


def test_nan_predictions_are_not_a_difference():
    class Undefined(Scaled):
        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return super().forward(features) * float("nan")

    assert pt2_problem(Undefined().eval(), ROWS) is None


def test_a_torch_older_than_mlflow_s_pt2_needs_is_named(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1+cpu")
    problem = pt2_problem(Scaled().eval(), ROWS)
    assert problem is not None and "needs torch >= 2.4 (this is 2.3.1+cpu)" in problem


def test_an_mlflow_without_the_pt2_format_is_named(monkeypatch):
    monkeypatch.setattr(mlflow_model, "_has_format_option", lambda: False)
    problem = pt2_problem(Scaled().eval(), ROWS)
    assert problem is not None and "has no pt2 format" in problem


def test_example_rows_are_flat_float64_and_never_a_single_row():
    rows = example_rows(torch.arange(6, dtype=torch.float32).reshape(1, 2, 3))  # one row, as stored
    assert rows.dtype == torch.float64 and rows.shape == (2, 6)  # a lone row is doubled
    assert torch.equal(rows[0], torch.arange(6, dtype=torch.float64))
