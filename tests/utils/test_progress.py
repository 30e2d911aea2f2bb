"""The live progress display, and that per-batch hooks cost nothing when unused."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from aiforge.cli import _show_progress, build_parser
from aiforge.core import console as console_module
from aiforge.utils.callbacks import Callback
from aiforge.utils.progress import ProgressBar


class CountingLoss:
    def __init__(self) -> None:
        self.items = 0

    def item(self) -> float:
        self.items += 1
        return 0.5


@pytest.fixture
def recorded_console(monkeypatch):
    buffer = io.StringIO()
    fake = Console(file=buffer, force_terminal=True, width=120)
    monkeypatch.setattr(console_module, "get_console", lambda: fake)
    return buffer


def test_progress_shows_epochs_steps_loss_and_validation(recorded_console):
    bar = ProgressBar(refresh_per_second=1000)
    bar.on_train_start(SimpleNamespace(epochs=2, batches_per_epoch=3))
    for step in range(3):
        bar.on_train_batch_end(step, torch.tensor(0.25))
    bar._progress.refresh()  # what a person sees mid-epoch
    bar.on_epoch_end(0, {"epoch": 1, "train_loss": 0.3, "val_loss": 0.4, "val_accuracy": 0.9})
    bar.close()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", recorded_console.getvalue())
    assert "epochs" in text and "1/2" in text
    assert "loss 0.2500" in text and "val_accuracy 0.9000" in text


def test_loss_is_read_from_the_device_at_a_bounded_rate(recorded_console):
    bar = ProgressBar(refresh_per_second=0.001)  # at most once in 1000 s
    bar.on_train_start(SimpleNamespace(epochs=1, batches_per_epoch=500))
    loss = CountingLoss()
    for step in range(500):
        bar.on_train_batch_end(step, loss)
    bar.close()
    assert loss.items == 1


def test_trainer_calls_per_batch_hooks_only_on_callbacks_that_have_them():
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.core.trainer import Trainer

    class PerBatch(Callback):
        def on_train_batch_end(self, batch_idx, loss):
            pass

    quiet, busy = Callback(), PerBatch()
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, optimizer, TrainingConfig(), torch.device("cpu"), None, [quiet, busy])
    assert trainer._batch_callbacks == [busy]


@pytest.mark.parametrize(
    ("argv", "terminal", "expected"),
    [
        (["run"], True, True),
        (["run"], False, False),
        (["run", "--no-progress"], True, False),
        (["run", "--progress"], False, True),
        (["run", "--quiet"], True, False),
        (["check", "x.yaml"], True, False),
    ],
)
def test_progress_flags(monkeypatch, argv, terminal, expected):
    monkeypatch.setattr(console_module, "get_console", lambda: SimpleNamespace(is_terminal=terminal))
    args = build_parser().parse_args(argv)
    if not hasattr(args, "progress"):
        args.progress = None
    assert _show_progress(args) is expected
