"""The cnn model plugin: shapes for gray and colour images of any size, config checks, export."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from aiforge.core.plugins import model_config_class
from aiforge.plugins.cnn.config import CNNConfig
from aiforge.plugins.cnn.model import Model


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (28, 28), (64, 48)])
def test_logits_for_any_image_size(channels, size):
    model = Model(CNNConfig(in_channels=channels, output_dim=4, channels=[8, 16, 16])).eval()
    out = model(torch.rand(3, channels, *size))
    assert out.shape == (3, 4)
    assert torch.isfinite(out).all()


def test_one_block_per_channels_entry_and_options():
    model = Model(
        CNNConfig(in_channels=1, output_dim=2, channels=[4, 8], batch_norm=False, activation_fn="GELU")
    )
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())
    assert model.head[-1].in_features == 8


def test_trains_a_step():
    model = Model(CNNConfig(in_channels=3, output_dim=3, channels=[4]))
    model.loss_fn = model.configure_loss_fn("CrossEntropyLoss")
    optimizer = model.configure_optimizer("SGD", 0.1)
    batch = {"features": torch.rand(4, 3, 8, 8), "labels": torch.tensor([0, 1, 2, 0])}
    loss = model.training_step(batch, 0)["loss"]
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)


def test_flat_rows_are_refused_with_the_expected_shape():
    model = Model(CNNConfig(in_channels=1, output_dim=2))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\], got a batch of shape \[2, 64\]"):
        model(torch.rand(2, 64))


def test_missing_dims_are_explained():
    with pytest.raises(ValueError, match="in_channels and output_dim"):
        Model(CNNConfig(output_dim=2))


@pytest.mark.parametrize(
    "fields, where",
    [
        ({"channels": []}, "channels"),
        ({"channels": [0]}, "channels.0"),
        ({"dropout_rate": 1.5}, "dropout_rate"),
        ({"activation_fn": "Relu"}, "activation_fn"),
        ({"in_channels": 0}, "in_channels"),
        ({"kernel": 5}, "kernel"),
    ],
)
def test_config_errors_name_the_field(fields, where):
    with pytest.raises(ValidationError) as caught:
        CNNConfig(**fields)
    assert where in {".".join(map(str, e["loc"])) for e in caught.value.errors()}


def test_cnn_is_a_builtin_model_plugin_with_its_config():
    assert model_config_class("cnn") is CNNConfig


def test_torchscript_trace_matches_for_other_batch_sizes():
    model = Model(CNNConfig(in_channels=3, output_dim=5, channels=[4, 8])).eval()
    traced = torch.jit.trace(model, torch.rand(2, 3, 16, 16))
    batch = torch.rand(5, 3, 16, 16)
    torch.testing.assert_close(traced(batch), model(batch))
