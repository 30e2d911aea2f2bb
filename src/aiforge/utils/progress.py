"""A live progress display on a terminal: epoch, step, ETA, train loss, last validation metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiforge.utils.callbacks import Callback

if TYPE_CHECKING:
    from aiforge.core.trainer import Trainer


class ProgressBar(Callback):
    """A rich progress display; the loss shown is refreshed at most ``refresh_per_second`` times.

    Off a terminal, the trainer's one log line per epoch is the progress report instead.
    """

    def __init__(self, refresh_per_second: float = 4.0) -> None:
        self.interval = 1.0 / refresh_per_second
        self._progress: Any = None
        self._epoch_task: Any = None
        self._step_task: Any = None
        self._last_refresh = 0.0

    def on_train_start(self, trainer: Trainer) -> None:
        from aiforge.core.distributed import is_main_process

        if not is_main_process():
            return  # one display per job, not one per process
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from aiforge.core.console import get_console

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=get_console(),
            refresh_per_second=4,
            transient=False,
        )
        self._epoch_task = self._progress.add_task("epochs", total=trainer.epochs, info="")
        self._step_task = self._progress.add_task("steps ", total=trainer.batches_per_epoch, info="")
        self._progress.start()

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last_refresh >= self.interval:  # .item() waits for the device: keep it rare
            self._last_refresh = now
            self._progress.update(self._step_task, completed=batch_idx + 1, info=f"loss {loss.item():.4f}")
        else:
            self._progress.update(self._step_task, completed=batch_idx + 1)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self._progress is None:
            return
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        self._progress.update(self._epoch_task, completed=epoch + 1, info=shown)
        self._progress.reset(self._step_task, info="")

    def on_train_end(self, trainer: Trainer) -> None:
        self.close()

    def on_experiment_end(self, orchestrator: Any, status: str, error: BaseException | None = None) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
