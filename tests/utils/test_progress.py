"""The live progress display, and that per-batch hooks cost nothing when unused."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
import torch
from rich.cells import cell_len
from rich.console import Console

from aiforge.cli import build_parser
from aiforge.cli.experiment import _show_progress
from aiforge.runtime import console as console_module
from aiforge.utils.callbacks import Callback
from aiforge.utils.progress import ProgressBar


class CountingLoss:
    def __init__(self) -> None:
        self.items = 0

    def item(self) -> float:
        self.items += 1
        return 0.5


ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
ETA = re.compile(r"\d+:\d\d:\d\d|-:--:--")  # TimeRemainingColumn; the dashes before a speed is known
VALIDATION = {  # one epoch's logs as the trainer passes them: the val_ ones are shown
    "epoch": 3,
    "train_loss": 0.3141,
    "val_loss": 0.4123,
    "val_accuracy": 0.9012,
    "val_f1": 0.8876,
    "val_auroc": 0.9534,
    "val_precision": 0.8801,
    "val_recall": 0.8952,
}


def terminal(monkeypatch, width: int = 120) -> io.StringIO:
    """What the display draws, on a terminal ``width`` columns wide (the console it really uses).

    An empty environment: TERM=dumb, NO_COLOR or TTY_INTERACTIVE=0 where the tests run would
    change what rich draws (no colours: no unfilled bar; a dumb terminal: no redraws).
    """
    buffer = io.StringIO()
    fake = Console(file=buffer, force_terminal=True, width=width, _environ={})
    monkeypatch.setattr(console_module, "get_console", lambda: fake)
    return buffer


@pytest.fixture
def recorded_console(monkeypatch):
    return terminal(monkeypatch)


class Clock:
    """``time.monotonic`` of a machine booted ``now`` seconds ago, moved on by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(5.0)  # five seconds after boot: shorter than any refresh interval below
    monkeypatch.setattr("time.monotonic", fake)
    return fake


def last_frame(output: str) -> list[str]:
    """The lines of the display's last drawing (each redraw starts by erasing the one before)."""
    return ANSI.sub("", output.split("\x1b[2K")[-1]).strip("\r\n").splitlines()


def test_progress_shows_epochs_steps_loss_and_validation(recorded_console):
    bar = ProgressBar(refresh_per_second=1000)
    bar.on_train_start(SimpleNamespace(epochs=2, batches_per_epoch=3))
    for step in range(3):
        bar.on_train_batch_end(step, torch.tensor(0.25))
    bar._live.refresh()  # what a person sees mid-epoch
    bar.on_epoch_end(0, {"epoch": 1, "train_loss": 0.3, "val_loss": 0.4, "val_accuracy": 0.9})
    bar.close()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", recorded_console.getvalue())
    assert "epochs" in text and "1/2" in text
    assert "loss 0.2500" in text and "val_accuracy 0.9000" in text


def test_loss_is_read_from_the_device_at_a_bounded_rate(recorded_console, clock):
    bar = ProgressBar(refresh_per_second=1.0)
    bar.on_train_start(SimpleNamespace(epochs=1, batches_per_epoch=500))
    loss = CountingLoss()
    for step in range(500):
        clock.now = 5.0 + 0.25 * step  # four batches a second, for 125 s
        bar.on_train_batch_end(step, loss)
    bar.close()
    assert loss.items == 125  # once a second, the first batch included


def test_the_first_loss_shows_on_a_machine_booted_moments_ago(recorded_console, clock):
    """``time.monotonic`` counts from boot: the first batch's loss shows even when the machine
    has been up for less than the refresh interval (here 5 s of a 1000 s interval)."""
    bar = ProgressBar(refresh_per_second=0.001)
    bar.on_train_start(SimpleNamespace(epochs=1, batches_per_epoch=500))
    loss = CountingLoss()
    for step in range(500):
        bar.on_train_batch_end(step, loss)
    bar.close()
    assert loss.items == 1
    assert "loss 0.5000" in ANSI.sub("", recorded_console.getvalue())


@pytest.mark.parametrize("width", [60, 80, 120])
def test_bar_count_and_eta_stay_readable_beside_validation_metrics(monkeypatch, clock, width):
    """Six validation metrics do not squeeze the bar, the M/N count or the ETA into "…" (as
    they did at 80 columns): the metrics wrap onto lines of their own, never a name without
    its value, and no line is wider than the terminal."""
    output = terminal(monkeypatch, width)
    bar = ProgressBar(refresh_per_second=4)
    bar.on_train_start(SimpleNamespace(epochs=10, batches_per_epoch=50))
    for epoch in range(3):
        for step in range(50):
            bar.on_train_batch_end(step, torch.tensor(0.25))
        bar.on_epoch_end(epoch, {**VALIDATION, "epoch": epoch + 1})
    for step in range(20):
        bar.on_train_batch_end(step, torch.tensor(0.25))
    bar.close()
    drawn = ANSI.sub("", output.getvalue())
    assert all(cell_len(line) <= width for line in re.split(r"[\r\n]", drawn))
    frame = last_frame(output.getvalue())
    assert "…" not in "\n".join(frame)
    epochs = next(line for line in frame if line.startswith("epochs"))
    steps = next(line for line in frame if line.startswith("steps"))
    for row, count in ((epochs, " 3/10 "), (steps, "20/50 ")):
        assert "━━━━━━━━━━" in row and count in row and ETA.search(row), frame
    assert "loss 0.2500" in steps
    for name, value in VALIDATION.items():
        if name.startswith("val_"):
            assert any(f"{name} {value:.4f}" in line for line in frame), (name, frame)
    assert "train_loss" not in "\n".join(frame)


def test_trainer_calls_per_batch_hooks_only_on_callbacks_that_have_them():
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.training.trainer import Trainer

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


def test_a_metric_wider_than_the_terminal_folds_onto_the_next_line(monkeypatch, clock):
    output = terminal(monkeypatch, 40)
    bar = ProgressBar()
    bar.on_train_start(SimpleNamespace(epochs=2, batches_per_epoch=5))
    name = "val_" + "x" * 50
    bar.on_epoch_end(0, {"epoch": 1, name: 0.5, "val_loss": 0.25})
    bar.close()
    frame = last_frame(output.getvalue())
    assert all(cell_len(line) <= 40 for line in frame) and "…" not in "\n".join(frame)
    assert "".join(frame).count(f"{name} 0.5000") == 1 and "val_loss 0.2500" in frame
