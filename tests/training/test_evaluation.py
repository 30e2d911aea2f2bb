"""The evaluation loop on its own: the per-sample mean loss and metrics, as computed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.data.batching import TensorBatches
from aiforge.training.evaluation import evaluate, evaluate_as_configured, output_width, prediction_width
from aiforge.training.precision import Precision
from aiforge.training.step_failures import TrainingError
from aiforge.training.trainer import Trainer
from aiforge.utils.metrics import MetricSet
from tiny_models import Linear

CPU = torch.device("cpu")


def tiny(outputs: int = 2, loss: nn.Module | None = None) -> Linear:
    torch.manual_seed(0)
    model = Linear(outputs=outputs)
    model.loss_fn = loss or nn.CrossEntropyLoss()
    return model


def data(count: int, regression: bool = False) -> dict[str, torch.Tensor]:
    features = torch.randn(count, 3, generator=torch.Generator().manual_seed(1))
    labels = features.sum(dim=1, keepdim=True) if regression else (features.sum(dim=1) > 0).long()
    return {"features": features, "labels": labels}


def batches(tensors: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    return list(TensorBatches(tensors, size, shuffle=False, seed=0))


def test_classification_loss_and_metrics_equal_the_hand_computed_ones() -> None:
    model, tensors = tiny(), data(23)
    metrics = MetricSet(["accuracy"], "classification", 2)
    loss, values = evaluate(model, batches(tensors, 5), metrics, CPU, Precision("32", CPU))  # 5,5,5,5,3
    with torch.no_grad():
        logits = model(tensors["features"])
    by_hand = nn.functional.cross_entropy(logits, tensors["labels"], reduction="sum") / 23
    assert loss == pytest.approx(float(by_hand), rel=1e-6)
    accuracy = float((logits.argmax(dim=1) == tensors["labels"]).float().mean())
    assert values == {"accuracy": pytest.approx(accuracy)}
    assert model.training is False


def test_regression_loss_and_metrics_equal_the_hand_computed_ones() -> None:
    model, tensors = tiny(outputs=1, loss=nn.MSELoss()), data(10, regression=True)
    metrics = MetricSet(["mse", "mae"], "regression", 1)
    loss, values = evaluate(model, batches(tensors, 4), metrics, CPU, Precision("32", CPU))  # 4, 4, 2
    with torch.no_grad():
        predictions = model(tensors["features"])
    errors = predictions - tensors["labels"]
    per_batch = [float((errors[i : i + 4] ** 2).mean()) * len(errors[i : i + 4]) for i in (0, 4, 8)]
    assert loss == pytest.approx(sum(per_batch) / 10, rel=1e-6)
    assert values["mse"] == pytest.approx(float((errors**2).mean()), rel=1e-6)
    assert values["mae"] == pytest.approx(float(errors.abs().mean()), rel=1e-6)


def test_the_trainers_validation_is_this_loop_bit_for_bit() -> None:
    tensors = data(23)
    model = tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(
        model, optimizer, TrainingConfig(), CPU, MetricSet(["accuracy", "f1"], "classification", 2)
    )
    by_trainer = trainer.evaluate(batches(tensors, 5))
    metrics = MetricSet(["accuracy", "f1"], "classification", 2)
    assert evaluate(model, batches(tensors, 5), metrics, CPU, Precision("32", CPU)) == by_trainer
    config = TrainingConfig()
    metrics = MetricSet(["accuracy", "f1"], "classification", 2)
    assert evaluate_as_configured(model, batches(tensors, 5), metrics, config, CPU) == by_trainer


def test_no_predictions_no_metrics_and_no_labels_counts_each_batch_once() -> None:
    class LossOnly(Linear):
        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            return {"loss": self(batch["features"]).sum()}

    model = LossOnly()
    features = torch.ones(4, 3)
    loss, values = evaluate(
        model,
        [{"features": features}, {"features": features}],
        MetricSet([], "classification", 2),
        CPU,
        Precision("32", CPU),
    )
    with torch.no_grad():
        assert loss == pytest.approx(float(model(features).sum()))  # mean over 2 batches of size 1
    assert values == {}


@pytest.mark.parametrize("inference_mode", [True, False])
def test_runs_under_inference_mode_or_no_grad_as_asked(inference_mode: bool) -> None:
    seen: list[tuple[bool, bool]] = []

    class Watched(Linear):
        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
            return super().validation_step(batch, batch_idx)

    model = Watched()
    model.loss_fn = nn.CrossEntropyLoss()
    metrics = MetricSet(["accuracy"], "classification", 2)
    evaluate(model, batches(data(4), 4), metrics, CPU, Precision("32", CPU), inference_mode=inference_mode)
    assert seen == [(inference_mode, False)]


def test_a_failing_validation_step_names_the_plugin_the_batch_and_the_epoch() -> None:
    class Broken(Linear):
        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            raise RuntimeError("element 0 of tensors does not require grad")

    metrics = MetricSet(["accuracy"], "classification", 2)
    with pytest.raises(TrainingError) as caught:
        evaluate(
            Broken(),
            batches(data(4), 2),
            metrics,
            CPU,
            Precision("32", CPU),
            plugin_names=("my_model", "my_data"),
            compiled=True,
            context="epoch 2, ",
        )
    message = str(caught.value)
    assert "model plugin 'my_model' failed in validation_step (epoch 2, batch 1)" in message
    assert "torch.inference_mode" in message and "training_config.compile" in message


def test_widths_of_predictions() -> None:
    assert output_width(None) == 1
    assert output_width(torch.zeros(4)) == 1
    assert output_width(torch.zeros(4, 1)) == 1
    assert output_width(torch.zeros(4, 7)) == 7
    assert prediction_width(tiny(outputs=5), batches(data(6), 4), CPU) == 5
