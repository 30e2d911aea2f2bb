"""The checkpoint format's owner (training/checkpoint.py): the progress object's state, the keys a
checkpoint holds, and how callbacks reach their trainer (``Callback.trainer``, ``on_save_point``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from test_trainer_resume import loaders, make_trainer

from aiforge.runtime.signals import RunInterrupted, StopRequests
from aiforge.training import checkpoint
from aiforge.training.checkpoint import TrainingProgress, format_problem
from aiforge.utils.callbacks import Callback, ModelCheckpoint


# -- TrainingProgress -----------------------------------------------------------------------------
def test_progress_state_dict_round_trips() -> None:
    progress = TrainingProgress(epoch=3, global_step=17, history=[{"epoch": 1, "val_loss": 0.5}])
    progress.start_epoch(torch.tensor([2, 0, 1]))
    progress.batches_done = 2
    progress.epoch_losses = [torch.tensor(0.25), torch.tensor(0.5)]
    progress.epoch_sizes = [8, 8]

    state = progress.state_dict()
    again = TrainingProgress()
    again.load_state_dict(state)

    assert (again.epoch, again.global_step, again.batches_done, again.epoch_start_step) == (3, 17, 2, 17)
    assert again.history == progress.history and again.history is not progress.history
    assert [float(loss) for loss in again.epoch_losses] == [0.25, 0.5]
    assert again.epoch_sizes == [8, 8]
    assert torch.equal(again.data_order, torch.tensor([2, 0, 1]))
    assert again.state_dict().keys() == state.keys()


def test_progress_state_has_the_layout_checkpoints_already_on_disk_use() -> None:
    state = TrainingProgress(epoch=1, global_step=4).state_dict()
    assert list(state) == ["epoch", "global_step", "history", "epoch_progress", "data_order"]
    assert set(state["epoch_progress"]) == {"batches_done", "losses", "sizes", "start_step"}
    assert torch.equal(state["epoch_progress"]["losses"], torch.zeros(0))


def test_a_trainers_full_state_keeps_format_1_and_its_keys() -> None:
    state = make_trainer().full_state()
    assert checkpoint.FORMAT_VERSION == 1
    assert list(state) == [
        "format",
        "model",
        "optimizer",
        "epoch",
        "global_step",
        "history",
        "epoch_progress",
        "data_order",
        "rng",
        "grad_scaler",
        "callbacks",
    ]
    assert state["format"] == 1


def test_format_problem_names_what_is_wrong() -> None:
    full = {key: None for key in checkpoint.REQUIRED_KEYS} | {"format": 1}
    assert format_problem(full) is None
    assert format_problem({**full, "format": 2}) == "written in checkpoint format 2, this AIForge reads 1"
    assert format_problem({"model": {}}) == (
        "not a full training checkpoint (missing format, optimizer, epoch, global_step, history, "
        "callbacks, config)"
    )


def test_the_run_entries_come_from_the_checkpoint_module() -> None:
    assert checkpoint.config_entry({"seed": 0}) == {"config": '{"seed": 0}'}
    assert checkpoint.every_rank_rng_entry() == {}  # one process: "rng" is the whole record


# -- Callback.trainer -----------------------------------------------------------------------------
class SeesItsTrainer(Callback):
    """Records what ``self.trainer`` is when each hook runs."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_train_start(self, trainer: Any) -> None:
        self.seen.append(("on_train_start", self.trainer))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self.trainer is not None
        self.seen.append(("on_epoch_end", (self.trainer.epoch, self.trainer.global_step)))


def test_a_callback_has_no_trainer_outside_a_run() -> None:
    assert Callback().trainer is None
    assert SeesItsTrainer().trainer is None


def test_the_trainer_is_set_on_every_callback_before_on_train_start() -> None:
    first, second = SeesItsTrainer(), SeesItsTrainer()
    trainer = make_trainer(callbacks=lambda _: [first, second])
    assert first.trainer is trainer and second.trainer is trainer  # also before on_experiment_start
    trainer.fit(*loaders("tensor", 1), epochs=1)
    assert first.seen[0] == ("on_train_start", trainer)
    assert second.seen[0] == ("on_train_start", trainer)


def test_a_custom_callback_reads_self_trainer_in_on_epoch_end() -> None:
    watcher = SeesItsTrainer()
    trainer = make_trainer(callbacks=lambda _: [watcher])
    trainer.fit(*loaders("tensor", 1), epochs=2)
    steps = trainer.global_step // 2  # the same number of steps each epoch
    assert [seen for hook, seen in watcher.seen if hook == "on_epoch_end"] == [(1, steps), (2, 2 * steps)]


def test_model_checkpoint_keeps_no_trainer_of_its_own(tmp_path: Path) -> None:
    saver = ModelCheckpoint(tmp_path, restore_best=False)
    trainer = make_trainer(callbacks=lambda _: [saver])
    trainer.fit(*loaders("tensor", 1), epochs=1)
    assert saver.trainer is trainer
    assert [name for name, value in vars(saver).items() if value is trainer] == ["trainer"]


# -- on_save_point: the trainer's save points, for any callback ---------------------------------------
class KeepsStates(Callback):
    """A checkpointing callback that is not a ModelCheckpoint: it keeps states in memory."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    def on_save_point(self) -> bool:
        assert self.trainer is not None
        self.states.append(self.trainer.full_state())
        return True


class StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def test_any_callback_can_keep_the_checkpoint_at_a_stop() -> None:
    keeper = KeepsStates()
    with StopRequests() as stops:
        trainer = make_trainer(callbacks=lambda _: [StopAfterFirstEpoch(), keeper])
        trainer.stop_requests = stops
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders("tensor", 1), epochs=3)
    assert caught.value.checkpoint_saved is True
    assert [state["epoch"] for state in keeper.states] == [1]


def test_save_points_reach_every_callback_at_the_step_checkpoints_and_the_end() -> None:
    keeper = KeepsStates()
    trainer = make_trainer(callbacks=lambda _: [keeper], checkpoint_every_n_steps=2)
    trainer.fit(*loaders("tensor", 1), epochs=1)
    steps = [state["global_step"] for state in keeper.states]
    assert steps[:-1] == list(range(2, trainer.global_step + 1, 2))
    assert steps[-1] == trainer.global_step  # the final state
