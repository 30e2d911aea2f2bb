"""The training loop on its own: steps, accumulation, clipping, evaluation, callbacks, NaN losses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.data.batching import TensorBatches
from aiforge.training.trainer import Trainer, TrainingError
from aiforge.utils.callbacks import Callback, ModelCheckpoint
from aiforge.utils.metrics import MetricSet
from tiny_models import Linear

CPU = torch.device("cpu")


def data(count: int = 40, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(count, 3, generator=generator)
    return {"features": features, "labels": (features.sum(dim=1) > 0).long()}


def batches_of(tensors: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    return list(TensorBatches(tensors, size, shuffle=False, seed=0))


class Unsized:
    """An iterable of batches without __len__ (a streaming loader)."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return iter(self.batches)


def make_trainer(
    model: BaseModel | None = None,
    lr: float = 0.1,
    callbacks: list[Callback] | None = None,
    **training: Any,
) -> Trainer:
    torch.manual_seed(0)
    model = model or Linear()
    model.loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    metrics = MetricSet(["accuracy"], "classification", 2)
    return Trainer(model, optimizer, TrainingConfig(**training), CPU, metrics, callbacks)


def full_loss(trainer: Trainer, tensors: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        return float(trainer.model.loss_fn(trainer.model(tensors["features"]), tensors["labels"]))


# -- losses and evaluation ------------------------------------------------------------------------
def test_evaluate_is_the_per_sample_mean_over_uneven_batches() -> None:
    tensors = data(23)
    trainer = make_trainer()
    loss, metrics = trainer.evaluate(batches_of(tensors, 5))  # 5, 5, 5, 5, 3
    assert loss == pytest.approx(full_loss(trainer, tensors), rel=1e-5)
    with torch.no_grad():
        predicted = trainer.model(tensors["features"]).argmax(dim=1)
    assert metrics["accuracy"] == pytest.approx(float((predicted == tensors["labels"]).float().mean()))
    assert trainer.model.training is False


class RemembersValidation(Linear):
    """Keeps its last validation output and adds it (times zero) to later training outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[tuple[bool, bool]] = []  # (inference mode, grad mode) in validation_step
        self.kept: torch.Tensor | None = None

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        predictions = self(batch["features"])
        if self.kept is not None:
            predictions = predictions + 0 * predictions * self.kept  # saves `kept` for backward
        return {"loss": self.compute_loss(predictions, batch["labels"]), "predictions": predictions}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        self.modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        outputs = super().validation_step(batch, batch_idx)
        self.kept = outputs["predictions"]
        return outputs


def test_validation_runs_under_inference_mode_by_default() -> None:
    trainer = make_trainer(RemembersValidation())
    trainer.evaluate(batches_of(data(10), 5))
    assert trainer.model.modes == [(True, False), (True, False)]
    with pytest.raises(TrainingError, match=r"set training_config\.inference_mode: false"):
        trainer.train_epoch(batches_of(data(10), 5), 0)  # uses a tensor made in inference mode


def test_inference_mode_false_validates_under_no_grad_and_lets_models_keep_tensors() -> None:
    trainer = make_trainer(RemembersValidation(), inference_mode=False)
    trainer.evaluate(batches_of(data(10), 5))
    assert trainer.model.modes == [(False, False), (False, False)]
    assert trainer.train_epoch(batches_of(data(10), 5), 0) > 0


class NeedsGradientsInValidation(Linear):
    """Input gradients in its validation (a saliency score): autograd inside validation_step."""

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        with torch.enable_grad():
            features = batch["features"].clone().requires_grad_(True)
            predictions = self(features)
            (saliency,) = torch.autograd.grad(predictions.sum(), features)
        return {"loss": self.compute_loss(predictions.detach(), batch["labels"]), "saliency": saliency}


def test_a_validation_step_that_needs_autograd_is_told_to_turn_inference_mode_off() -> None:
    batches = batches_of(data(10), 5)
    with pytest.raises(TrainingError, match=r"needs training_config\.inference_mode: false"):
        make_trainer(NeedsGradientsInValidation()).evaluate(batches)
    loss, _ = make_trainer(NeedsGradientsInValidation(), inference_mode=False).evaluate(batches)
    assert loss > 0


def test_train_epoch_returns_the_per_sample_mean_loss() -> None:
    tensors = data(23)
    trainer = make_trainer(lr=0.0)  # no change in weights: the epoch loss is the full-data loss
    expected = full_loss(trainer, tensors)
    assert trainer.train_epoch(batches_of(tensors, 5), epoch=0) == pytest.approx(expected, rel=1e-5)
    assert trainer.global_step == 5 and trainer.model.training is True


@pytest.mark.parametrize("nonfinite_loss", ["stop", "skip"])
def test_a_loss_shaped_one_element_gives_the_same_epoch_mean(nonfinite_loss: str) -> None:
    class OneElementLoss(Linear):
        def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
            outputs = super().training_step(batch, batch_idx)
            return {**outputs, "loss": outputs["loss"].reshape(1)}  # [1], not a scalar

    tensors = data(23)
    trainer = make_trainer(model=OneElementLoss(), lr=0.0, nonfinite_loss=nonfinite_loss)
    expected = full_loss(trainer, tensors)
    assert trainer.train_epoch(batches_of(tensors, 5), epoch=0) == pytest.approx(expected, rel=1e-5)


def test_nan_loss_raises_training_error_naming_the_epoch() -> None:
    class TurnsNaN(Linear):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            TurnsNaN.calls += 1
            out = super().forward(x)
            return out * float("nan") if self.training and TurnsNaN.calls > 8 else out

    tensors = data(20)
    trainer = make_trainer(model=TurnsNaN())
    # 4 training batches + 1 validation batch per epoch: forward call 9 is batch 4 of epoch 2.
    with pytest.raises(
        TrainingError, match=r"training loss became nan in epoch 2, batch 4 \(optimizer step 8\)"
    ):
        trainer.fit(batches_of(tensors, 5), batches_of(tensors, 20), epochs=3)
    assert len(trainer.history) == 1


def test_an_epoch_with_both_infinities_names_the_first_bad_batch() -> None:
    trainer = make_trainer()
    losses = [torch.tensor(1.0), torch.tensor(float("inf")), torch.tensor(float("-inf"))]
    trainer.progress.epoch_losses = losses
    trainer.progress.epoch_sizes = [5, 5, 5]
    with pytest.raises(TrainingError, match=r"training loss became inf in epoch 1, batch 2"):
        trainer._epoch_mean_loss(0)


# -- optimizer steps ------------------------------------------------------------------------------
def test_accumulation_steps_optimizer_every_n_batches_and_at_the_end() -> None:
    tensors = data(25)
    trainer = make_trainer(gradient_accumulation_steps=2)
    trainer.train_epoch(batches_of(tensors, 5), epoch=0)  # 5 batches: steps after 2, 4 and 5
    assert trainer.global_step == 3


def test_unsized_loader_steps_like_a_sized_one() -> None:
    tensors = data(25)
    sized = make_trainer(gradient_accumulation_steps=2)
    unsized = make_trainer(gradient_accumulation_steps=2)
    sized.train_epoch(batches_of(tensors, 5), epoch=0)
    unsized.train_epoch(Unsized(batches_of(tensors, 5)), epoch=0)
    assert unsized.global_step == sized.global_step == 3
    for a, b in zip(sized.model.parameters(), unsized.model.parameters(), strict=True):
        assert torch.allclose(a, b)


def test_accumulated_gradients_equal_one_big_batch() -> None:
    tensors = data(32)
    accumulated = make_trainer(gradient_accumulation_steps=4)
    single = make_trainer()
    accumulated.train_epoch(batches_of(tensors, 8), epoch=0)
    single.train_epoch(batches_of(tensors, 32), epoch=0)
    assert accumulated.global_step == single.global_step == 1
    for a, b in zip(accumulated.model.parameters(), single.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("loader", [list, Unsized])
def test_a_short_last_accumulation_group_is_averaged_over_its_own_batches(loader: type) -> None:
    # 36 rows: batches of 8 are 8, 8, 8, 8, 4; accumulating 2 gives groups of 2, 2 and 1 batch.
    # Batches of 16 are 16, 16, 4. The last group holds one batch, so its gradient must be that
    # batch's mean gradient, not half of it: then both runs take the same three steps.
    tensors = data(36)
    accumulated = make_trainer(gradient_accumulation_steps=2)
    single = make_trainer()
    accumulated.train_epoch(loader(batches_of(tensors, 8)), epoch=0)
    single.train_epoch(batches_of(tensors, 16), epoch=0)
    assert accumulated.global_step == single.global_step == 3
    for a, b in zip(accumulated.model.parameters(), single.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_gradient_clipping_bounds_each_update() -> None:
    tensors = data(40)
    clipped = make_trainer(lr=1.0, gradient_clip_norm=1e-3)
    free = make_trainer(lr=1.0)
    start = [p.detach().clone() for p in clipped.model.parameters()]
    clipped.train_epoch(batches_of(tensors, 8), epoch=0)
    free.train_epoch(batches_of(tensors, 8), epoch=0)

    def moved(trainer: Trainer) -> float:
        params = [p.detach() for p in trainer.model.parameters()]
        return float(torch.sqrt(sum(((p - s) ** 2).sum() for p, s in zip(params, start, strict=True))))

    # 5 SGD steps of lr 1 with gradients of norm <= 1e-3 move the weights by at most 5e-3.
    assert moved(clipped) <= 5 * 1e-3 + 1e-6
    assert moved(free) > 0.05


# -- fit and callbacks ----------------------------------------------------------------------------
class Recorder(Callback):
    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[Any] = []
        self.stop_after = stop_after

    def on_train_start(self, trainer: Trainer) -> None:
        self.events.append("start")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.events.append((epoch, dict(logs)))
        if self.stop_after is not None and epoch + 1 >= self.stop_after:
            self.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        self.events.append("end")


def test_fit_calls_hooks_with_epoch_logs() -> None:
    recorder = Recorder()
    tensors = data(30)
    trainer = make_trainer(callbacks=[recorder])
    history = trainer.fit(batches_of(tensors, 10), batches_of(tensors, 30), epochs=3)
    assert recorder.events[0] == "start" and recorder.events[-1] == "end"
    epochs = recorder.events[1:-1]
    assert [epoch for epoch, _ in epochs] == [0, 1, 2]
    assert [logs for _, logs in epochs] == history
    assert list(history[0]) == ["epoch", "train_loss", "val_loss", "val_accuracy", "lr"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["val_loss"] < history[0]["val_loss"]  # it learns


def test_a_callback_can_stop_training() -> None:
    recorder = Recorder(stop_after=2)
    tensors = data(30)
    trainer = make_trainer(callbacks=[recorder])
    history = trainer.fit(batches_of(tensors, 10), batches_of(tensors, 30), epochs=10)
    assert len(history) == 2 and recorder.events[-1] == "end"


def test_weights_a_callback_breaks_at_an_epoch_end_never_reach_a_checkpoint(tmp_path: Path) -> None:
    class BreakWeights(Callback):  # e.g. a weight-averaging callback gone wrong
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 1:
                with torch.no_grad():
                    next(trainer.model.parameters())[0, 0] = float("nan")

    checkpoint = ModelCheckpoint(tmp_path, every_n_epochs=1)
    tensors = data(30)
    trainer = make_trainer(callbacks=[BreakWeights(), checkpoint])
    with pytest.raises(TrainingError, match=r"weights are no longer finite in epoch 2"):
        trainer.fit(batches_of(tensors, 10), batches_of(tensors, 30), epochs=2)
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert last["epoch"] == 1 and all(value.isfinite().all() for value in last["model"].values())
    assert torch.load(checkpoint.best_path, weights_only=True)["epoch"] == 1


def test_states_are_copies_and_full_state_has_everything() -> None:
    trainer = make_trainer(callbacks=[Recorder()])
    state = trainer.model_state()
    with torch.no_grad():
        trainer.model.linear.weight.add_(1.0)
    assert not torch.equal(state["linear.weight"], trainer.model.linear.weight)
    trainer.load_model_state(state)
    assert torch.equal(state["linear.weight"], trainer.model.linear.weight)
    trainer.epoch = 4
    full = trainer.full_state()
    assert set(full) == {
        "format",
        "model",
        "optimizer",
        "epoch",
        "global_step",
        "grad_scaler",
        "history",
        "epoch_progress",
        "data_order",
        "rng",
        "callbacks",
    }
    assert full["epoch"] == 4 and full["callbacks"] == {"Recorder": {}}


class Numbered(Callback):
    def __init__(self, number: int) -> None:
        self.number = number

    def state_dict(self) -> dict[str, Any]:
        return {"number": self.number}


def test_full_state_keeps_every_callback_of_one_class() -> None:
    # Regression: states were keyed by class name only, so a second callback overwrote the first.
    trainer = make_trainer(callbacks=[Numbered(1), Recorder(), Numbered(2), Numbered(3)])
    assert trainer.full_state()["callbacks"] == {
        "Numbered": {"number": 1},
        "Recorder": {},
        "Numbered#1": {"number": 2},
        "Numbered#2": {"number": 3},
    }
