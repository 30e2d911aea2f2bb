"""The text_classifier model: each encoder trains, and padding never changes what it outputs."""

from __future__ import annotations

import pydantic
import pytest
import torch
from torch import nn

from aiforge.plugins.text_classifier.config import TextClassifierConfig
from aiforge.plugins.text_classifier.model import Model

ENCODERS = ["bag", "conv", "gru"]


def model(encoder: str, padding_index: int = 0, **fields) -> Model:
    torch.manual_seed(0)
    config = TextClassifierConfig(
        vocab_size=30,
        padding_index=padding_index,
        output_dim=3,
        encoder=encoder,
        embedding_dim=8,
        hidden_dim=6,
    )
    return Model(config.model_copy(update=fields))


IDS = torch.tensor([[5, 6, 7, 8], [9, 3, 0, 0], [4, 0, 0, 0]])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_each_encoder_takes_a_training_step(encoder):
    net = model(encoder)
    net.loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    before = [p.detach().clone() for p in net.parameters()]
    out = net.training_step({"features": IDS, "labels": torch.tensor([0, 1, 2])}, 0)
    assert out["predictions"].shape == (3, 3)
    out["loss"].backward()
    optimizer.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True)]
    assert all(changed[1:]) and torch.isfinite(out["loss"])  # [0] is the embedding: see below
    assert torch.count_nonzero(net.embedding.weight[0]) == 0  # padding's embedding never learns


@pytest.mark.parametrize("encoder", ENCODERS)
def test_extra_padding_does_not_change_the_output(encoder):
    net = model(encoder).eval()
    padded = torch.cat([IDS, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(net(IDS), net(padded), atol=1e-6)
        # A row's output does not depend on how long the other rows of its batch are.
        assert torch.allclose(net(IDS[2:, :1]), net(IDS)[2:], atol=1e-6)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_padding_index_other_than_zero(encoder):
    net = model(encoder, padding_index=29).eval()
    ids = torch.tensor([[5, 6, 29, 29]])
    with torch.no_grad():
        assert torch.allclose(net(ids), net(ids[:, :2]), atol=1e-6)


def test_the_config_needs_the_dims_from_the_data():
    with pytest.raises(ValueError, match="vocab_size, padding_index and output_dim"):
        Model(TextClassifierConfig(output_dim=2))
    with pytest.raises(ValueError, match="padding_index 30 must be below vocab_size 30"):
        model("bag", padding_index=30)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        model("conv", kernel_size=4)


def test_the_config_refuses_an_unknown_encoder():
    with pytest.raises(pydantic.ValidationError, match="encoder"):
        TextClassifierConfig(encoder="transformer")
