"""Losses and optimizers built by name with arguments from a config file."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from aiforge.runtime.log import logger
from aiforge.training.builders import build_loss, build_optimizer
from aiforge.training.optimizer_kernels import keep_kernels_usable
from torch_features import FUSED_ADAM_ON_CPU

needs_fused_cpu = pytest.mark.skipif(not FUSED_ADAM_ON_CPU, reason="fused Adam on CPU needs torch 2.4")


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 5) -> None:
    inputs, targets = torch.randn(16, 6, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()


def test_class_weights_from_a_config_list_become_a_tensor() -> None:
    # Regression: YAML gives a list, and torch refused weight=[1.0, 2.0] ("torch Tensor or None required").
    loss = build_loss("CrossEntropyLoss", weight=[1.0, 2.0])
    assert isinstance(loss, nn.CrossEntropyLoss)
    assert isinstance(loss.weight, torch.Tensor)
    assert torch.equal(loss.weight, torch.tensor([1.0, 2.0]))
    logits, targets = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    expected = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]))(logits, targets)
    assert loss(logits, targets) == pytest.approx(float(expected))


def test_pos_weight_from_a_config_list_becomes_a_tensor() -> None:
    loss = build_loss("BCEWithLogitsLoss", pos_weight=[3.0])
    assert isinstance(loss.pos_weight, torch.Tensor)
    assert torch.equal(loss.pos_weight, torch.tensor([3.0]))


@needs_fused_cpu
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_takes_the_fused_kernel_and_makes_the_same_update(name: str) -> None:
    fused_model, plain_model = mlp(), mlp()
    optimizer = build_optimizer(fused_model.parameters(), name, 0.01, weight_decay=0.1)
    assert optimizer.defaults["fused"] is True
    train(fused_model, optimizer)
    train(plain_model, getattr(torch.optim, name)(plain_model.parameters(), lr=0.01, weight_decay=0.1))
    for fused, plain in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(fused, plain)  # float32 rounding apart


@pytest.mark.parametrize("choice", [{"fused": False}, {"foreach": True}, {"foreach": False}])
def test_an_implementation_in_the_config_is_kept(choice: dict[str, bool]) -> None:
    optimizer = build_optimizer(mlp().parameters(), "Adam", 0.01, **choice)
    assert not optimizer.defaults["fused"]
    for key, value in choice.items():
        assert optimizer.defaults[key] is value


def test_parameters_without_a_fused_kernel_get_the_default_implementation() -> None:
    # Fused Adam takes only real floats; torch would accept it here and fail at the first step.
    weights = nn.Parameter(torch.randn(4, dtype=torch.complex64))
    optimizer = build_optimizer(iter([weights]), "Adam", 0.1)  # a one-pass iterator, tried twice
    assert not optimizer.defaults["fused"]
    assert optimizer.param_groups[0]["params"] == [weights]
    weights.grad = torch.ones_like(weights)
    optimizer.step()
    assert not torch.equal(weights.detach(), weights.grad)  # it trains


def test_other_optimizers_keep_torch_s_choice() -> None:
    optimizer = build_optimizer(mlp().parameters(), "SGD", 0.1, momentum=0.9)
    assert not optimizer.defaults.get("fused")  # SGD has the option only from torch 2.3


def test_an_implementation_chosen_in_a_param_group_is_kept() -> None:
    model = mlp()
    groups = [{"params": model[0].parameters(), "foreach": True}, {"params": model[2].parameters()}]
    optimizer = build_optimizer(groups, "Adam", 0.01)
    assert [group["fused"] for group in optimizer.param_groups] == [None, None]
    assert optimizer.param_groups[0]["foreach"] is True


def test_a_set_of_parameters_is_refused_as_torch_refuses_it() -> None:
    # A set has no fixed order: a checkpoint's optimizer state could meet the wrong parameter.
    with pytest.raises((TypeError, ValueError), match="ordered collections"):
        build_optimizer([{"params": set(mlp().parameters())}], "Adam", 0.01)


@needs_fused_cpu
def test_a_fused_checkpoint_resumes_where_this_torch_has_no_fused_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = mlp()
    saved = build_optimizer(model.parameters(), "Adam", 0.01)
    train(model, saved)
    monkeypatch.setattr(torch, "__version__", "2.3.1")  # before the CPU kernels: as on an older torch
    resumed = build_optimizer(model.parameters(), "Adam", 0.01)
    assert not resumed.defaults["fused"]
    resumed.load_state_dict(copy.deepcopy(saved.state_dict()))
    assert resumed.param_groups[0]["fused"] is True  # torch restores the checkpoint's choice
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING")
    try:
        keep_kernels_usable(resumed)
    finally:
        logger.remove(sink)
    assert not resumed.param_groups[0]["fused"]
    assert any("fused kernel, which this torch or device lacks" in message for message in messages)
    train(model, resumed)  # and it trains on


@needs_fused_cpu
def test_a_resumed_optimizer_keeps_the_kernel_of_its_checkpoint() -> None:
    # A checkpoint from before the fused default (or with fused: false) continues on the same
    # kernel, so a resumed run matches the uninterrupted one exactly, not to rounding.
    plain_model = mlp()
    plain = torch.optim.Adam(plain_model.parameters(), lr=0.01)
    train(plain_model, plain)
    resumed_model = mlp()
    resumed_model.load_state_dict(plain_model.state_dict())
    resumed = build_optimizer(resumed_model.parameters(), "Adam", 0.01)
    assert resumed.param_groups[0]["fused"] is True
    resumed.load_state_dict(copy.deepcopy(plain.state_dict()))  # as if read from disk: no shared state
    assert not resumed.param_groups[0]["fused"]
    train(plain_model, plain)
    train(resumed_model, resumed)
    for left, right in zip(plain_model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(left, right)


@needs_fused_cpu
def test_param_groups_from_iterators_keep_every_parameter() -> None:
    model = mlp()
    groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters()}]
    optimizer = build_optimizer(iter(groups), "AdamW", 0.01)
    assert optimizer.defaults["fused"] is True
    assert [len(group["params"]) for group in optimizer.param_groups] == [2, 2]
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.01]


def test_a_torch_without_the_fused_kernel_gets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    class OldAdam(torch.optim.Adam):  # torch before 2.4 refused fused=True on CPU when built
        def __init__(self, params: object, **kwargs: object) -> None:
            if kwargs.get("fused"):
                raise RuntimeError("`fused=True` requires all the params to be CUDA, floating point Tensors")
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", OldAdam)
    optimizer = build_optimizer(mlp().parameters(), "Adam", 0.01)
    assert isinstance(optimizer, OldAdam) and not optimizer.defaults["fused"]
    assert len(optimizer.param_groups[0]["params"]) == 4


def test_a_tensor_instead_of_parameters_is_still_refused() -> None:
    with pytest.raises(ValueError, match=r"optimizer Adam does not accept .*iterable"):
        build_optimizer(torch.zeros(3, requires_grad=True), "Adam", 0.01)
