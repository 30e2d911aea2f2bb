"""BaseModel: the default steps, loss/target alignment, optimizer and loss by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import ModelSpecificConfig
from aiforge.core.base_model import BaseModel, align_for_loss


class Tiny(BaseModel):
    def __init__(self, outputs: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(4, outputs)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


# -- align_for_loss -------------------------------------------------------------------------------
def test_cross_entropy_gets_long_targets() -> None:
    logits = torch.randn(5, 3)
    targets = torch.tensor([0.0, 2.0, 1.0, 1.0, 0.0])
    predictions, aligned = align_for_loss(nn.CrossEntropyLoss(), logits, targets)
    assert predictions is logits
    assert aligned.dtype == torch.long and aligned.tolist() == [0, 2, 1, 1, 0]
    nn.CrossEntropyLoss()(predictions, aligned)  # accepted


def test_mse_squeezes_one_output_and_floats_targets() -> None:
    outputs = torch.randn(6, 1)
    targets = torch.arange(6)  # integer values, shape [N]
    predictions, aligned = align_for_loss(nn.MSELoss(), outputs, targets)
    assert predictions.shape == (6,) and aligned.shape == (6,)
    assert aligned.dtype == torch.float32
    expected = ((outputs.squeeze(1) - targets.float()) ** 2).mean()
    assert torch.allclose(nn.MSELoss()(predictions, aligned), expected)


def test_mse_keeps_matching_multi_output_shapes() -> None:
    outputs, targets = torch.randn(4, 2), torch.randn(4, 2).double()
    predictions, aligned = align_for_loss(nn.MSELoss(), outputs, targets)
    assert predictions.shape == aligned.shape == (4, 2) and aligned.dtype == torch.float32


def test_bce_with_logits_gets_float_targets_shaped_like_the_output() -> None:
    logits = torch.randn(5, 1)
    labels = torch.tensor([0, 1, 1, 0, 1])
    predictions, aligned = align_for_loss(nn.BCEWithLogitsLoss(), logits, labels)
    assert predictions.shape == aligned.shape == (5,)
    assert aligned.dtype == torch.float32
    nn.BCEWithLogitsLoss()(predictions, aligned)  # shapes and dtypes accepted


# -- default steps --------------------------------------------------------------------------------
def test_training_step_returns_loss_and_predictions() -> None:
    model = Tiny()
    model.loss_fn = model.configure_loss_fn("CrossEntropyLoss")
    batch = {"features": torch.randn(8, 4), "labels": torch.randint(0, 3, (8,))}
    outputs = model.training_step(batch, 0)
    assert outputs["predictions"].shape == (8, 3)
    expected = nn.functional.cross_entropy(model(batch["features"]), batch["labels"])
    assert torch.allclose(outputs["loss"], expected)
    assert torch.allclose(model.validation_step(batch, 0)["loss"], expected)


def test_compute_loss_without_loss_fn_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="loss_fn is not set"):
        Tiny().compute_loss(torch.zeros(2, 3), torch.zeros(2))


def test_num_parameters() -> None:
    model = Tiny()
    assert model.num_parameters() == 4 * 3 + 3
    assert model.num_parameters(trainable_only=False) == 4 * 3 + 3 + 2 * 2 + 2


def test_model_must_implement_forward() -> None:
    class NoForward(BaseModel):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoForward()  # type: ignore[abstract]


def test_model_config_is_kept() -> None:
    class Configured(Tiny):
        def __init__(self, model_config: ModelSpecificConfig) -> None:
            BaseModel.__init__(self, model_config)
            self.linear = nn.Linear(4, 3)

    config = ModelSpecificConfig()
    model = Configured(config)
    assert model.model_config is config
    assert model.optimizer is None and model.loss_fn is None and model.device is None
    assert Tiny().model_config is None


# -- optimizer and loss by name -------------------------------------------------------------------
def test_default_optimizer_passes_keyword_arguments() -> None:
    model = Tiny()
    optimizer = model.configure_optimizer("AdamW", 0.01, weight_decay=0.3, betas=(0.8, 0.9))
    assert isinstance(optimizer, torch.optim.AdamW)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.3 and tuple(group["betas"]) == (0.8, 0.9)
    params = {id(p) for p in group["params"]}
    assert params == {id(p) for p in model.parameters()}


def test_optimizer_with_a_bad_keyword_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"optimizer SGD does not accept \{'wieght_decay': 0.1\}"):
        Tiny().configure_optimizer("SGD", 0.1, wieght_decay=0.1)


def test_unknown_optimizer_is_a_value_error_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'Adamm' \(did you mean 'Adam'"):
        Tiny().configure_optimizer("Adamm", 0.1)


def test_loss_by_name_with_arguments() -> None:
    loss = Tiny().configure_loss_fn("CrossEntropyLoss", label_smoothing=0.1)
    assert isinstance(loss, nn.CrossEntropyLoss) and loss.label_smoothing == 0.1
    assert isinstance(Tiny().configure_loss_fn("L1Loss"), nn.L1Loss)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("MSELos", {}, r"unknown loss function 'MSELos' \(did you mean 'MSELoss'"),
        ("Module", {}, "unknown loss function 'Module'"),  # a torch.nn class that is not a loss
        ("MSELoss", {"smoothing": 1}, r"loss MSELoss does not accept \{'smoothing': 1\}"),
    ],
)
def test_bad_loss_is_a_value_error(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tiny().configure_loss_fn(name, **kwargs)
