"""Losses built by name with arguments from a config file."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aiforge.core.training_setup import build_loss


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
