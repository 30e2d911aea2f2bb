"""Exact resume in-process, non-finite losses, and plugin failures named in the training loop.

A resumed trainer is always built fresh (another seed, another loader seed, scrambled global
generators) so that nothing but the checkpoint can make it match the uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import BaseDataset, Item
from aiforge.data.batching import TensorBatches, loader_options, make_batches
from aiforge.runtime.seeding import seed_everything
from aiforge.training.builders import build_optimizer
from aiforge.training.checkpoint import load_latest_checkpoint
from aiforge.training.trainer import Trainer, TrainingError
from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)
from aiforge.utils.metrics import MetricSet

CPU = torch.device("cpu")
ROWS, VAL_ROWS = 44, 16


# -- models and data ------------------------------------------------------------------------------
class Dropped(BaseModel):
    """Dropout makes every training step draw from torch's global generator."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 16)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.relu(self.hidden(x))))


def data(count: int = ROWS + VAL_ROWS, nan_row: int | None = None) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(count, 4, generator=generator)
    labels = (features[:, 0] + features[:, 1] > 0).long()
    if nan_row is not None:
        features[nan_row, 2] = float("nan")  # a bad row: its batch's loss is NaN
    return {"features": features, "labels": labels}


class PerItem(BaseDataset):
    """Items one at a time (no ``as_tensors``), so batches come from a DataLoader.

    Each read adds noise from NumPy's and Python's global generators, like an augmentation.
    """

    def __init__(self, fail_at: int | None = None) -> None:
        self.tensors = data()
        self.fail_at = fail_at

    def load_data(self, data_path: str | None, **dataset_args: Any) -> None: ...

    def __len__(self) -> int:
        return len(self.tensors["labels"])

    def __getitem__(self, idx: int) -> Item:
        if idx == self.fail_at:
            raise OSError(f"cannot read row {idx}")
        noise = torch.as_tensor(np.random.normal(0.0, 0.05, size=4), dtype=torch.float32)
        noise[0] += random.uniform(-0.05, 0.05)
        return {"features": self.tensors["features"][idx] + noise, "labels": self.tensors["labels"][idx]}


def loaders(kind: str, seed: int, batch_size: int = 8, nan_row: int | None = None) -> tuple[Any, Any]:
    """Shuffled training batches and validation batches of one kind: 'tensor', 'loader' or 'workers'."""
    train_rows, val_rows = torch.arange(ROWS), torch.arange(ROWS, ROWS + VAL_ROWS)
    if kind == "tensor":
        tensors = data(nan_row=nan_row)
        train = {key: value[train_rows] for key, value in tensors.items()}
        val = {key: value[val_rows] for key, value in tensors.items()}
        return TensorBatches(train, batch_size, shuffle=True, seed=seed), TensorBatches(val, 16, False, seed)
    dataset = PerItem()
    # 'workers': two worker processes, started afresh each epoch, draw the augmentation noise
    options = loader_options(CPU, 2, persistent_workers=False) if kind == "workers" else None
    train_loader = make_batches(dataset, train_rows, None, batch_size, True, seed, options=options)
    assert isinstance(train_loader, torch.utils.data.DataLoader)
    # The validation loader's seed only seeds its workers; in a real resume the config's seed,
    # which must not change, fixes it. The training loader's seed must not matter at all.
    return train_loader, make_batches(dataset, val_rows, None, 16, False, 0, options=options)


CallbackFactory = Callable[[torch.optim.Optimizer], list[Callback]]


def make_trainer(
    seed: int = 0,
    callbacks: CallbackFactory | None = None,
    model: Callable[[], BaseModel] = Dropped,
    plugin_names: tuple[str, str] = ("model", "dataset"),
    **training: Any,
) -> Trainer:
    """A trainer whose model is built after seeding: one seed, one set of initial weights."""
    seed_everything(seed)
    model = model()
    model.loss_fn = nn.CrossEntropyLoss()
    optimizer = build_optimizer(model.parameters(), "Adam", 0.01)  # as a run builds it: fused
    metrics = MetricSet(["accuracy"], "classification", 2)
    return Trainer(
        model,
        optimizer,
        TrainingConfig(**training),
        CPU,
        metrics,
        callbacks(optimizer) if callbacks else [],
        plugin_names=plugin_names,
    )


class Snapshots(ModelCheckpoint):
    """A ModelCheckpoint that also keeps every ``last.pt`` it writes, loaded as a resume loads it."""

    def __init__(self, directory: Path, keep: bool = True, every_n_epochs: int = 1) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(directory, restore_best=False, every_n_epochs=every_n_epochs)
        self.keep = keep
        self.saved: list[dict[str, Any]] = []

    def save_last(self, trainer: Trainer) -> None:
        super().save_last(trainer)
        if self.keep:
            self.saved.append(torch.load(self.last_path, weights_only=True))


def assert_same_weights(a: Trainer, b: Trainer) -> None:
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def scramble_generators() -> None:
    """Move every global generator somewhere else, as a new process would start."""
    seed_everything(4321)
    random.random()
    np.random.rand()
    torch.rand(1)


def check_every_resume(
    tmp_path: Path,
    kind: str,
    epochs: int = 3,
    batch_size: int = 8,
    callbacks: CallbackFactory | None = None,
    nan_row: int | None = None,
    **training: Any,
) -> list[dict[str, Any]]:
    """Train uninterrupted; train again with checkpoints; resume a fresh trainer from each checkpoint.

    Every resumed run must end with the uninterrupted run's weights and history, bit for bit.
    Returns the checkpoints.
    """
    reference = make_trainer(callbacks=callbacks, **training)
    reference_history = reference.fit(*loaders(kind, 7, batch_size, nan_row), epochs=epochs)

    every_n_epochs = training.get("checkpoint_every_n_epochs", 1)

    def with_snapshots(directory: Path, keep: bool = True) -> CallbackFactory:
        return lambda optimizer: [
            *(callbacks(optimizer) if callbacks else []),
            Snapshots(directory, keep, every_n_epochs),
        ]

    checkpointed = make_trainer(callbacks=with_snapshots(tmp_path / "first"), **training)
    assert checkpointed.fit(*loaders(kind, 7, batch_size, nan_row), epochs=epochs) == reference_history
    assert_same_weights(checkpointed, reference)  # taking checkpoints changes nothing
    snapshots = checkpointed.callbacks[-1]
    assert isinstance(snapshots, Snapshots)

    for number, state in enumerate(snapshots.saved):
        saver = with_snapshots(tmp_path / f"resumed{number}", keep=False)
        resumed = make_trainer(seed=100 + number, callbacks=saver, **training)
        scramble_generators()
        history = resumed.fit(*loaders(kind, 999, batch_size, nan_row), epochs=epochs, resume_state=state)
        where = f"resumed from epoch {state['epoch']}, batch {state['epoch_progress']['batches_done']}"
        assert history == reference_history, where
        assert resumed.global_step == reference.global_step, where
        assert_same_weights(resumed, reference)
    return snapshots.saved


def positions(states: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(epochs done, batches done in the next, optimizer steps) of each checkpoint."""
    return [(s["epoch"], s["epoch_progress"]["batches_done"], s["global_step"]) for s in states]


# -- exact resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tensor", "loader", "workers"])
def test_resume_from_any_checkpoint_matches_the_uninterrupted_run(tmp_path: Path, kind: str) -> None:
    # 44 rows in batches of 8: 6 batches (the last of 4) and 6 steps per epoch; a step
    # checkpoint every 4 steps, and one after each epoch.
    states = check_every_resume(tmp_path, kind, epochs=3, checkpoint_every_n_steps=4)
    assert positions(states) == [
        (0, 4, 4),  # mid-epoch
        (1, 0, 6),  # epoch boundary
        (1, 2, 8),
        (1, 6, 12),  # all batches of epoch 2 done, its validation not yet
        (2, 0, 12),
        (2, 4, 16),
        (3, 0, 18),  # the end: a resume only finishes the run
    ]


def test_resume_from_checkpoints_every_n_epochs(tmp_path: Path) -> None:
    # 6 steps per epoch; checkpoints after epochs 2 and 4 and, as the last epoch, 5.
    states = check_every_resume(tmp_path, "tensor", epochs=5, checkpoint_every_n_epochs=2)
    assert positions(states) == [(2, 0, 12), (4, 0, 24), (5, 0, 30)]


@pytest.mark.parametrize("kind", ["tensor", "loader"])
def test_resume_with_gradient_accumulation(tmp_path: Path, kind: str) -> None:
    # Batches of 10: 10, 10, 10, 10, 4; accumulating 2, the steps follow batches 2, 4 and 5.
    states = check_every_resume(
        tmp_path, kind, epochs=2, batch_size=10, checkpoint_every_n_steps=1, gradient_accumulation_steps=2
    )
    assert positions(states) == [
        (0, 2, 1),
        (0, 4, 2),
        (0, 5, 3),
        (1, 0, 3),
        (1, 2, 4),
        (1, 4, 5),
        (1, 5, 6),
        (2, 0, 6),
    ]  # never inside an accumulation group


def test_resume_restores_the_lr_scheduler_and_early_stopping(tmp_path: Path) -> None:
    def callbacks(optimizer: torch.optim.Optimizer) -> list[Callback]:
        return [
            LRSchedulerCallback(torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)),
            # Nothing improves by 10 after the first epoch: a stop after epoch 4.
            EarlyStopping(patience=3, min_delta=10.0),
        ]

    states = check_every_resume(tmp_path, "tensor", epochs=8, callbacks=callbacks, checkpoint_every_n_steps=5)
    final = states[-1]
    assert final["epoch"] == 4 and [row["epoch"] for row in final["history"]] == [1, 2, 3, 4]
    assert [row["lr"] for row in final["history"]] == pytest.approx([0.01, 0.01, 0.01, 0.001])
    assert final["callbacks"]["EarlyStopping"]["stop_training"] is True
    assert final["callbacks"]["LRSchedulerCallback"]["last_epoch"] == 4


def test_a_crashed_run_continues_from_last_pt_on_disk(tmp_path: Path) -> None:
    class CrashAt(Callback):
        def __init__(self, batch: int) -> None:
            self.batch, self.seen = batch, 0

        def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
            self.seen += 1
            if self.seen == self.batch:
                raise MemoryError("simulated crash")

    reference = make_trainer()
    reference_history = reference.fit(*loaders("loader", 7), epochs=3)

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    config = {"config": json.dumps({"seed": 0})}  # what the orchestrator adds to every last.pt
    crashing = make_trainer(
        callbacks=lambda _: [ModelCheckpoint(checkpoints, extra_state=config), CrashAt(11)],
        checkpoint_every_n_steps=4,
    )
    with pytest.raises(MemoryError, match="simulated crash"):
        crashing.fit(*loaders("loader", 7), epochs=3)
    state, path = load_latest_checkpoint(tmp_path)
    assert path.name == "last.pt" and (state["global_step"], state["epoch"]) == (8, 1)
    assert state["epoch_progress"]["batches_done"] == 2

    again = ModelCheckpoint(checkpoints, restore_best=False, extra_state=config)
    resumed = make_trainer(seed=1, callbacks=lambda _: [again])
    scramble_generators()
    assert resumed.fit(*loaders("loader", 3), epochs=3, resume_state=state) == reference_history
    assert_same_weights(resumed, reference)


class FullStates(ModelCheckpoint):
    """A ModelCheckpoint that also keeps ``trainer.full_state()`` in memory at each save.

    ``deep_copy``: a copy of it as it was then (the state itself shares live objects, see
    test_a_full_state_kept_in_memory_resumes_exactly).
    """

    def __init__(self, directory: Path, deep_copy: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(directory, restore_best=False)
        self.deep_copy = deep_copy
        self.states: list[dict[str, Any]] = []

    def save_last(self, trainer: Trainer) -> None:
        super().save_last(trainer)
        state = trainer.full_state()
        self.states.append(copy.deepcopy(state) if self.deep_copy else state)


def test_full_state_loads_with_weights_only(tmp_path: Path) -> None:
    def callbacks(optimizer: torch.optim.Optimizer) -> list[Callback]:
        return [
            EarlyStopping(patience=5),
            LRSchedulerCallback(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=1)),
            LRSchedulerCallback(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)),
            MetricsHistory(tmp_path / "metrics.csv"),
            FullStates(tmp_path / "checkpoints"),
        ]

    # 6 batches per epoch, accumulating 2: steps after batches 2, 4 and 6, each with a checkpoint.
    trainer = make_trainer(callbacks=callbacks, checkpoint_every_n_steps=1, gradient_accumulation_steps=2)
    trainer.fit(*loaders("loader", 7), epochs=2)
    saver = trainer.callbacks[-1]
    assert isinstance(saver, FullStates)
    state = saver.states[-3]  # epoch 2, batch 4 of 6: mid-epoch, with losses and history
    assert (state["epoch"], state["epoch_progress"]["batches_done"]) == (1, 4)
    torch.save(state, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)

    assert set(loaded) == set(state) and loaded["format"] == state["format"]
    assert set(loaded["callbacks"]) == {
        "EarlyStopping",
        "LRSchedulerCallback",
        "LRSchedulerCallback#1",
        "MetricsHistory",
        "FullStates",
    }
    assert loaded["callbacks"]["EarlyStopping"] == state["callbacks"]["EarlyStopping"]
    assert loaded["callbacks"]["MetricsHistory"]["rows"] == state["history"]
    assert loaded["history"] == state["history"] and len(loaded["history"]) == 1
    progress = loaded["epoch_progress"]
    assert len(progress["losses"]) == 4 and progress["sizes"] == [8, 8, 8, 8]  # per batch
    assert torch.equal(progress["losses"], state["epoch_progress"]["losses"])
    assert torch.equal(loaded["data_order"], state["data_order"])
    assert torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])
    assert torch.equal(loaded["rng"]["numpy"]["key"], state["rng"]["numpy"]["key"])
    assert torch.equal(loaded["rng"]["python"][1], state["rng"]["python"][1])
    for key, value in state["model"].items():
        assert torch.equal(loaded["model"][key], value)
    # ModelCheckpoint wrote the same state
    on_disk = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    final = saver.states[-1]
    assert on_disk["global_step"] == final["global_step"] and on_disk["history"] == final["history"]
    assert all(torch.equal(on_disk["model"][key], value) for key, value in final["model"].items())
    # a fresh trainer takes it
    fresh = make_trainer(seed=3, callbacks=callbacks)
    fresh.load_full_state(loaded)
    assert (fresh.epoch, fresh.global_step) == (state["epoch"], state["global_step"])


def test_a_full_state_kept_in_memory_resumes_exactly(tmp_path: Path) -> None:
    def callbacks(_: torch.optim.Optimizer) -> list[Callback]:
        return [MetricsHistory(tmp_path / "metrics.csv"), FullStates(tmp_path / "ckpt", deep_copy=False)]

    reference = make_trainer()
    reference_history = reference.fit(*loaders("tensor", 7), epochs=3)
    first = make_trainer(callbacks=callbacks)
    first.fit(*loaders("tensor", 7), epochs=3)
    saver = first.callbacks[-1]
    assert isinstance(saver, FullStates)
    state = saver.states[0]  # after epoch 1, taken in memory; the run went on to epoch 3
    resumed = make_trainer(seed=5)
    # fails: the optimizer's moments in `state` are those of epoch 3, so epoch 2 differs
    assert resumed.fit(*loaders("tensor", 9), epochs=3, resume_state=state) == reference_history
    assert_same_weights(resumed, reference)
    assert state["callbacks"]["MetricsHistory"]["rows"] == state["history"]  # fails: 3 rows


def test_full_state_is_a_copy() -> None:
    trainer = make_trainer()
    trainer.fit(*loaders("tensor", 7), epochs=1)
    state = trainer.full_state()
    trainer.fit(*loaders("tensor", 7), epochs=2)
    assert state["epoch"] == 1 and len(state["history"]) == 1 and len(trainer.history) == 2
    assert not all(
        torch.equal(state["model"][key], value) for key, value in trainer.model.state_dict().items()
    )


# -- non-finite losses ----------------------------------------------------------------------------
class Linear(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def poisoned(bad: set[int], value: float = float("nan")) -> Callable[[], BaseModel]:
    """A model whose loss at the given training steps (1-based, over all epochs) becomes ``value``."""

    class Poisoned(Linear):
        calls = 0

        def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
            outputs = super().training_step(batch, batch_idx)
            if self.training:  # validation_step calls training_step too
                self.calls += 1
                if self.calls in bad:
                    outputs["loss"] = outputs["loss"] * value
            return outputs

    return Poisoned


class WeightsRecorder(Callback):
    """The model's weights after each training batch."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []
        self.trainer: Trainer | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        assert self.trainer is not None
        self.weights.append(self.trainer.model_state())


def fixed_batches(size: int = 10) -> list[dict[str, torch.Tensor]]:
    """The first 40 rows in order: 4 batches of 10 by default."""
    return list(TensorBatches({k: v[:40] for k, v in data().items()}, size, shuffle=False, seed=0))


def checkpointed_trainer(
    tmp_path: Path, model: Callable[[], BaseModel], *others: Callback, **training: Any
) -> tuple[Trainer, ModelCheckpoint]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    checkpoint = ModelCheckpoint(tmp_path, restore_best=False)
    trainer = make_trainer(model=model, callbacks=lambda _: [checkpoint, *others], **training)
    return trainer, checkpoint


def all_finite(weights: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(weight).all()) for weight in weights.values())


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_stop_names_epoch_batch_and_step_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, value: float
) -> None:
    # 4 batches per epoch: training step 7 is batch 3 of epoch 2, optimizer step 7.
    recorder = WeightsRecorder()
    trainer, checkpoint = checkpointed_trainer(
        tmp_path, poisoned({7}, value), recorder, checkpoint_every_n_steps=1
    )
    with pytest.raises(TrainingError) as caught:
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=3)
    message = str(caught.value)
    assert f"became {value} in epoch 2, batch 3 (optimizer step 7)" in message
    assert "nonfinite_loss: skip" in message and "last checkpoint is kept" in message

    last = torch.load(checkpoint.last_path, weights_only=True)
    previous = torch.load(checkpoint.previous_path, weights_only=True)
    assert (last["epoch"], last["epoch_progress"]["batches_done"], last["global_step"]) == (1, 2, 6)
    assert (previous["epoch"], previous["epoch_progress"]["batches_done"]) == (1, 1)
    assert previous["global_step"] == 5
    assert bool(torch.isfinite(last["epoch_progress"]["losses"]).all())
    assert all_finite(last["model"])
    for key, weight in last["model"].items():
        assert torch.equal(weight, recorder.weights[5][key])  # the weights after step 6
    assert not all_finite(trainer.model_state())  # what was kept out of the checkpoint


def test_stop_at_the_epoch_end_keeps_the_previous_epochs_checkpoint(tmp_path: Path) -> None:
    trainer, checkpoint = checkpointed_trainer(tmp_path, poisoned({7}))
    with pytest.raises(TrainingError, match=r"became nan in epoch 2, batch 3 \(optimizer step 7\)"):
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=3)
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert (last["epoch"], last["global_step"], len(last["history"])) == (1, 4, 1)
    assert all_finite(last["model"])
    assert not checkpoint.previous_path.exists()
    assert len(trainer.history) == 1


def test_stop_with_accumulation_names_the_optimizer_step(tmp_path: Path) -> None:
    # Accumulating 2 over 4 batches: batch 3 of epoch 2 is in optimizer step 2 + 2 = 4.
    trainer, _ = checkpointed_trainer(tmp_path, poisoned({7}), gradient_accumulation_steps=2)
    with pytest.raises(TrainingError, match=r"became nan in epoch 2, batch 3 \(optimizer step 4\)"):
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=3)


def test_non_finite_weights_never_reach_a_checkpoint(tmp_path: Path) -> None:
    class BreaksItsWeights(Linear):
        calls = 0

        def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
            outputs = super().training_step(batch, batch_idx)  # a finite loss
            self.calls += self.training
            if self.calls == 6:
                with torch.no_grad():
                    self.linear.bias[0] = float("inf")
            return outputs

    trainer, checkpoint = checkpointed_trainer(tmp_path, BreaksItsWeights, checkpoint_every_n_steps=1)
    with pytest.raises(TrainingError, match=r"weights are no longer finite in epoch 2 \(optimizer step 6\)"):
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=3)
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert last["global_step"] == 5 and all_finite(last["model"])


def test_skip_drops_the_bad_batch_and_goes_on(tmp_path: Path, warnings: list[str]) -> None:
    trainer, checkpoint = checkpointed_trainer(tmp_path, poisoned({3}), nonfinite_loss="skip")
    history = trainer.fit(fixed_batches(), fixed_batches(40), epochs=2)
    assert len(history) == 2 and all(np.isfinite(row["train_loss"]) for row in history)
    assert trainer.global_step == 3 + 4
    skipped = [message for message in warnings if "Skipped" in message]
    assert len(skipped) == 1 and skipped[0].startswith("Skipped batch 3 of epoch 1:") and "nan" in skipped[0]
    assert all_finite(trainer.model_state())
    assert torch.load(checkpoint.last_path, weights_only=True)["global_step"] == 7

    # The same as training without that batch.
    batches = fixed_batches()
    clean = make_trainer(model=Linear)
    clean_history = clean.fit(PerEpoch([batches[0], batches[1], batches[3]], batches), fixed_batches(40), 2)
    assert_same_weights(trainer, clean)
    assert history == clean_history


def test_train_epoch_called_again_trains_a_whole_epoch() -> None:
    trainer = make_trainer(model=Linear)
    trainer.train_epoch(fixed_batches(), epoch=0)
    trainer.train_epoch(fixed_batches(), epoch=1)
    assert trainer.global_step == 8


class PerEpoch:
    """An unsized loader with other batches in each epoch."""

    def __init__(self, *epochs: list[dict[str, torch.Tensor]]) -> None:
        self.epochs = list(epochs)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return iter(self.epochs.pop(0))


def test_skip_with_accumulation_steps_on_the_batches_it_kept(tmp_path: Path) -> None:
    # Accumulating 2 over 4 batches with batch 2 skipped: batches 1 and 3 make the first step.
    trainer, _ = checkpointed_trainer(
        tmp_path, poisoned({2}), nonfinite_loss="skip", gradient_accumulation_steps=2
    )
    trainer.fit(fixed_batches(), fixed_batches(40), epochs=1)
    assert trainer.global_step == 2 and all_finite(trainer.model_state())


def test_skipped_batches_then_resume_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    # Row 13 has a NaN feature: each epoch skips the shuffled batch that holds it.
    states = check_every_resume(
        tmp_path, "tensor", epochs=3, nan_row=13, nonfinite_loss="skip", checkpoint_every_n_steps=3
    )
    assert [s["global_step"] for s in states if s["epoch_progress"]["batches_done"] == 0] == [5, 10, 15]
    assert any(s["epoch_progress"]["batches_done"] > 0 for s in states)


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_an_epoch_with_no_finite_loss_raises(tmp_path: Path, mode: str) -> None:
    trainer, checkpoint = checkpointed_trainer(tmp_path, poisoned(set(range(1, 9))), nonfinite_loss=mode)
    expected = "epoch 1 had no batch with a finite loss" if mode == "skip" else "epoch 1, batch 1"
    with pytest.raises(TrainingError, match=expected):
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=2)
    assert not checkpoint.last_path.exists() and trainer.history == []


# -- plugin failures ------------------------------------------------------------------------------
class FailsAt(Linear):
    step, call, calls = "", 0, 0

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        if self.training and self.step == "training":
            self.calls += 1
            if self.calls == self.call:
                raise ValueError("shapes do not match")
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        if self.step == "validation":
            self.calls += 1
            if self.calls == self.call:
                raise KeyError("logits")
        return super().validation_step(batch, batch_idx)


NAMES = ("my_model", "my_data")


def fails_at(step: str, call: int) -> Callable[[], BaseModel]:
    return type("FailsAt", (FailsAt,), {"step": step, "call": call})


def test_a_failing_training_step_names_the_model_plugin_epoch_and_batch() -> None:
    trainer = make_trainer(model=fails_at("training", 7), plugin_names=NAMES)
    with pytest.raises(TrainingError) as caught:
        trainer.fit(fixed_batches(), fixed_batches(40), epochs=3)
    assert str(caught.value) == (
        "model plugin 'my_model' failed in training_step (epoch 2, batch 3): ValueError: shapes do not match"
    )
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_failing_validation_step_names_the_model_plugin_and_batch() -> None:
    trainer = make_trainer(model=fails_at("validation", 2), plugin_names=NAMES)
    with pytest.raises(TrainingError) as caught:
        trainer.fit(fixed_batches(), fixed_batches(20), epochs=3)
    assert str(caught.value) == (
        "model plugin 'my_model' failed in validation_step (epoch 1, batch 2): KeyError: 'logits'"
    )
    assert isinstance(caught.value.__cause__, KeyError)
    assert trainer.history == []


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_failing_dataset_names_the_dataset_plugin(split: str) -> None:
    dataset = PerItem(fail_at=5 if split == "train" else ROWS + 3)
    train = make_batches(dataset, torch.arange(ROWS), None, 8, shuffle=False, seed=0)
    val = make_batches(dataset, torch.arange(ROWS, ROWS + VAL_ROWS), None, 8, shuffle=False, seed=0)
    trainer = make_trainer(plugin_names=NAMES)
    with pytest.raises(TrainingError) as caught:
        trainer.fit(train, val, epochs=1)
    assert str(caught.value).startswith("dataset plugin 'my_data' failed while reading a batch: OSError:")
    assert "cannot read row" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


def test_a_failing_batch_generator_names_the_dataset_plugin() -> None:
    def batches() -> Iterator[dict[str, torch.Tensor]]:
        yield from fixed_batches()[:2]
        raise RuntimeError("shard 3 is corrupt")

    class Loader:
        def __len__(self) -> int:
            return 4

        def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
            return batches()

    trainer = make_trainer(plugin_names=NAMES)
    with pytest.raises(TrainingError, match="dataset plugin 'my_data' failed while reading a batch: Runtime"):
        trainer.fit(Loader(), fixed_batches(40), epochs=1)
    assert trainer.global_step == 2


def test_a_loader_that_cannot_start_names_the_dataset_plugin() -> None:
    class Loader:
        def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
            raise OSError("cannot open the data folder")

    trainer = make_trainer(plugin_names=NAMES)
    with pytest.raises(TrainingError, match="dataset plugin 'my_data'"):
        trainer.fit(Loader(), fixed_batches(40), epochs=1)
