"""SIGINT/SIGTERM: the first signal stops the loop after its optimizer step with a checkpoint.

Signals are real (``os.kill`` of this process); CPython runs the handler before ``os.kill``
returns, so each assertion sees its effect. Tests run in the main thread, the only one that
may install handlers.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.data.batching import TensorBatches
from aiforge.runtime.signals import RunInterrupted, StopRequests
from aiforge.training.trainer import Trainer
from aiforge.utils.callbacks import Callback, ModelCheckpoint
from aiforge.utils.metrics import MetricSet

CPU = torch.device("cpu")


pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signal handlers need the main thread"
)


@pytest.fixture(autouse=True)
def _handlers_are_left_as_they_were() -> Iterator[None]:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    after = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    assert after == before


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)


# -- StopRequests and RunInterrupted --------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_armed_first_signal_only_records_a_request(signum: int) -> None:
    with StopRequests() as stops:
        stops.armed = True
        assert not stops.requested
        send(signum)
        assert stops.signum == signum and stops.requested


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_stops_at_once(signum: int) -> None:
    with StopRequests() as stops:
        stops.armed = True
        send(signal.SIGTERM)
        with pytest.raises(RunInterrupted) as caught:
            send(signum)
    assert caught.value.signum == signum and caught.value.checkpoint_saved is False
    assert stops.signum == signal.SIGTERM  # the first request is kept


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_unarmed_signal_stops_at_once(signum: int) -> None:
    with StopRequests() as stops:
        assert stops.armed is False
        with pytest.raises(RunInterrupted) as caught:
            send(signum)
    assert caught.value.signum == signum and stops.signum is None


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_exit_code_is_128_plus_the_signal(signum: int, code: int) -> None:
    interrupt = RunInterrupted(signum, checkpoint_saved=True)
    assert interrupt.exit_code == code and interrupt.checkpoint_saved is True
    assert isinstance(interrupt, KeyboardInterrupt)  # an interrupt, never caught by `except Exception`
    assert str(interrupt) == f"interrupted by {signal.Signals(signum).name}"


def test_handlers_are_installed_inside_and_restored_on_exit() -> None:
    original = signal.getsignal(signal.SIGTERM)
    with StopRequests() as stops:
        assert signal.getsignal(signal.SIGTERM) == stops._handle
        assert signal.getsignal(signal.SIGINT) == stops._handle
    assert signal.getsignal(signal.SIGTERM) == original


def test_handlers_are_restored_when_the_body_raises() -> None:
    def custom(signum: int, frame: Any) -> None:
        raise AssertionError("not reached")

    previous = signal.signal(signal.SIGTERM, custom)
    try:
        with pytest.raises(RunInterrupted), StopRequests():
            send(signal.SIGTERM)  # unarmed: raises through __exit__
        assert signal.getsignal(signal.SIGTERM) is custom
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_context_can_be_entered_again() -> None:
    stops = StopRequests()
    for _ in range(2):
        with stops:
            assert signal.getsignal(signal.SIGTERM) == stops._handle
        assert signal.getsignal(signal.SIGTERM) != stops._handle


# -- the trainer stops at a safe point ------------------------------------------------------------
class Linear(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SignalAt(Callback):
    """Sends ``signums`` to this process after the ``at``-th training batch (counted over all epochs)."""

    def __init__(self, at: int, signums: tuple[int, ...] = (signal.SIGTERM,)) -> None:
        self.at = at
        self.signums = signums
        self.batches = 0

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        self.batches += 1
        if self.batches == self.at:
            for signum in self.signums:
                send(signum)


def data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(44, 3, generator=generator)
    return {"features": features, "labels": (features.sum(dim=1) > 0).long()}


def make_trainer(
    callbacks: list[Callback], stops: StopRequests | None, seed: int = 0, **training: Any
) -> Trainer:
    torch.manual_seed(seed)
    model = Linear()
    model.loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    metrics = MetricSet(["accuracy"], "classification", 2)
    return Trainer(model, optimizer, TrainingConfig(**training), CPU, metrics, callbacks, stop_requests=stops)


def loaders(seed: int = 5) -> tuple[TensorBatches, TensorBatches]:
    # 44 rows in batches of 10: 10, 10, 10, 10, 4; accumulating 2, steps after batches 2, 4 and 5.
    return TensorBatches(data(), 10, shuffle=True, seed=seed), TensorBatches(data(), 44, False, 0)


@pytest.mark.parametrize(
    ("signal_after", "epoch", "step", "batches_done"),
    [
        (1, 0, 1, 2),  # mid-group: the group is finished first
        (2, 0, 1, 2),  # at a step: stop right after it
        (4, 0, 2, 4),
        (7, 1, 4, 2),  # in the second epoch: batch 2 of 5
        (5, 0, 3, 5),  # the epoch's last step: the epoch is finished on resume
    ],
)
def test_a_signal_stops_after_the_optimizer_step_with_a_checkpoint(
    tmp_path: Path, signal_after: int, epoch: int, step: int, batches_done: int
) -> None:
    checkpoint = ModelCheckpoint(tmp_path, restore_best=False)
    with StopRequests() as stops:
        trainer = make_trainer([checkpoint, SignalAt(signal_after)], stops, gradient_accumulation_steps=2)
        train, val = loaders()
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(train, val, epochs=3)
        assert stops.armed is False
    interrupt = caught.value
    assert interrupt.signum == signal.SIGTERM and interrupt.exit_code == 143
    assert interrupt.checkpoint_saved is True
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert last["epoch"] == epoch and last["global_step"] == step
    assert last["epoch_progress"]["batches_done"] == batches_done
    assert len(last["history"]) == epoch
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(last["model"][key], value)  # nothing was trained after the checkpoint

    # The interrupted run continues to the uninterrupted run's weights and history.
    reference = make_trainer([], None, gradient_accumulation_steps=2)
    reference_history = reference.fit(*loaders(), epochs=3)
    (tmp_path / "again").mkdir()
    again = ModelCheckpoint(tmp_path / "again", restore_best=False)
    resumed = make_trainer([again], None, seed=9, gradient_accumulation_steps=2)
    assert resumed.fit(*loaders(seed=123), epochs=3, resume_state=last) == reference_history
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_signal_during_validation_stops_after_the_epoch_checkpoint(tmp_path: Path) -> None:
    class SignalInValidation(Linear):
        sent = False

        def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
            if not self.sent:
                self.sent = True
                send(signal.SIGINT)
            return super().validation_step(batch, batch_idx)

    checkpoint = ModelCheckpoint(tmp_path, restore_best=False)
    with StopRequests() as stops:
        trainer = make_trainer([checkpoint], stops)
        trainer.model = SignalInValidation()
        trainer.model.loss_fn = nn.CrossEntropyLoss()
        trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=0.1)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=3)
    assert caught.value.exit_code == 130 and caught.value.checkpoint_saved is True
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 5 and len(last["history"]) == 1
    assert last["epoch_progress"]["batches_done"] == 0


def test_a_signal_during_validation_saves_the_epoch_even_when_it_is_not_a_checkpoint_epoch(
    tmp_path: Path,
) -> None:
    class RequestAtEpochEnd(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 1:
                send(signal.SIGTERM)

    checkpoint = ModelCheckpoint(tmp_path, restore_best=False, every_n_epochs=0)  # only at the end
    with StopRequests() as stops:
        trainer = make_trainer([RequestAtEpochEnd(), checkpoint], stops)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=4)
    assert caught.value.checkpoint_saved is True
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert (last["epoch"], last["global_step"], len(last["history"])) == (2, 10, 2)
    assert not checkpoint.previous_path.exists()  # epoch 1 was never written
    assert torch.load(checkpoint.best_path, weights_only=True)["epoch"] == checkpoint.best_epoch


def test_a_signal_during_the_final_checkpoint_write_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiforge.runs import files as run_files

    real_save = run_files.save_state

    def save_then_signal(path: Any, state: Any, keep_previous: Any = None) -> None:
        real_save(path, state, keep_previous)
        if Path(path).name == "last.pt":
            send(signal.SIGTERM)  # lands while the final checkpoint is being written

    monkeypatch.setattr(run_files, "save_state", save_then_signal)
    checkpoint = ModelCheckpoint(tmp_path, restore_best=False, every_n_epochs=0)  # only at the end
    with StopRequests() as stops:
        trainer = make_trainer([checkpoint], stops)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=2)
    assert caught.value.checkpoint_saved is True
    last = torch.load(checkpoint.last_path, weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 10)  # the whole run, ready to finish on resume


def test_resuming_a_run_with_nothing_left_to_train_rewrites_no_checkpoint(tmp_path: Path) -> None:
    first = ModelCheckpoint(tmp_path, restore_best=False)
    make_trainer([first], None).fit(*loaders(), epochs=2)
    before = {name: (tmp_path / name).read_bytes() for name in ("last.pt", "previous.pt", "best.pt")}
    state = torch.load(first.last_path, weights_only=True)
    again = ModelCheckpoint(tmp_path, restore_best=False)
    make_trainer([again], None, seed=3).fit(*loaders(), epochs=2, resume_state=state)
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_without_a_checkpointer_the_interrupt_says_nothing_was_saved() -> None:
    with StopRequests() as stops:
        trainer = make_trainer([SignalAt(3)], stops)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=2)
    assert caught.value.checkpoint_saved is False
    assert trainer.global_step == 3


def test_a_stop_at_an_epoch_end_without_a_checkpointer_says_nothing_was_saved() -> None:
    class RequestAtEpochEnd(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            send(signal.SIGTERM)

    with StopRequests() as stops:
        trainer = make_trainer([RequestAtEpochEnd()], stops)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=2)
    assert trainer.epoch == 1
    assert caught.value.checkpoint_saved is False


def test_a_second_signal_during_training_stops_at_once_without_a_checkpoint(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path, restore_best=False)
    with StopRequests() as stops:
        trainer = make_trainer([checkpoint, SignalAt(3, (signal.SIGTERM, signal.SIGTERM))], stops)
        with pytest.raises(RunInterrupted) as caught:
            trainer.fit(*loaders(), epochs=2)
        assert stops.armed is False
    assert caught.value.checkpoint_saved is False
    assert trainer.global_step == 3  # batch 3's step was taken; its checkpoint was not
    assert not checkpoint.last_path.exists()


def test_a_signal_before_or_after_fit_stops_at_once() -> None:
    with StopRequests() as stops:
        trainer = make_trainer([], stops)
        trainer.fit(*loaders(), epochs=1)
        assert stops.armed is False  # disarmed once fit returns
        with pytest.raises(RunInterrupted):
            send(signal.SIGTERM)
