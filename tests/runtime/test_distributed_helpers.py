"""The loop's collectives and DDP wrapper, in one process: alone, and in a one-rank gloo group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.runtime.distributed import all_reduce_sum, any_rank
from aiforge.training.ddp import TrainingStep, wrap_for_ddp

CPU = torch.device("cpu")


class Linear(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 2)
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@pytest.fixture
def one_rank_group(tmp_path: Path) -> Iterator[None]:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_alone_the_sum_is_the_values_as_floats() -> None:
    total, count = all_reduce_sum(torch.tensor(2.5, dtype=torch.float32), 4)
    assert (total, count) == (2.5, 4.0) and all(type(value) is float for value in (total, count))
    assert any_rank(True) and not any_rank(False)


@pytest.mark.usefixtures("one_rank_group")
def test_in_a_group_the_sum_goes_through_the_collective() -> None:
    values = all_reduce_sum(torch.tensor(1.25, dtype=torch.float64), torch.tensor([3.0]), 7)
    assert values == [1.25, 3.0, 7.0] and all(type(value) is float for value in values)
    assert any_rank(True) and not any_rank(False)


@pytest.mark.usefixtures("one_rank_group")
def test_ddp_runs_the_model_s_training_step_and_fills_its_gradients() -> None:
    model = Linear()
    wrapped = wrap_for_ddp(model, torch.device("cpu"))
    assert isinstance(wrapped.module, TrainingStep) and wrapped.module.model is model
    batch = {"features": torch.randn(4, 3), "labels": torch.tensor([0, 1, 1, 0])}
    outputs = wrapped(batch, 0)
    expected = model.training_step(batch, 0)
    torch.testing.assert_close(outputs["loss"], expected["loss"])
    outputs["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


class RecordsGradMode(Linear):
    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        self.inference = torch.is_inference_mode_enabled()
        return super().validation_step(batch, batch_idx)


@pytest.mark.usefixtures("one_rank_group")
def test_under_gloo_validation_runs_under_no_grad() -> None:
    """gloo's collectives (torchmetrics' sync) cannot write into inference tensors in older torch."""
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.training.trainer import Trainer
    from aiforge.utils.metrics import MetricSet

    model = RecordsGradMode()
    metrics = MetricSet(["accuracy"], "classification", 2)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), TrainingConfig(), CPU, metrics)
    batch = {"features": torch.randn(4, 3), "labels": torch.tensor([0, 1, 1, 0])}
    loss, values = trainer.evaluate([batch])
    assert model.inference is False and loss > 0 and 0 <= values["accuracy"] <= 1
