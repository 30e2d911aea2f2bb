"""A live progress display on a terminal: epoch, step, ETA, train loss, last validation metrics."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from aiforge.utils.callbacks import Callback

if TYPE_CHECKING:
    from aiforge.training.trainer import Trainer

BAR_WIDTH = 40  # the most columns the bars take; narrower terminals get shorter bars


class ProgressBar(Callback):
    """A rich progress display; the loss shown is refreshed at most ``refresh_per_second`` times.

    Two rows (epochs, steps) of bar, count and ETA, and the last validation metrics on lines of
    their own below, so that many metrics on a narrow terminal wrap instead of squeezing the bars.
    Off a terminal, the trainer's one log line per epoch is the progress report instead.
    """

    def __init__(self, refresh_per_second: float = 4.0) -> None:
        self.interval = 1.0 / refresh_per_second
        self._live: Any = None
        self._progress: Any = None
        self._metrics = _Metrics()
        self._epoch_task: Any = None
        self._step_task: Any = None
        # time.monotonic() counts from boot (or any start): the first batch's loss always shows
        self._last_refresh = -math.inf

    def on_train_start(self, trainer: Trainer) -> None:
        from aiforge.runtime.distributed import is_main_process

        if not is_main_process():
            return  # one display per job, not one per process
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Column

        from aiforge.runtime.console import get_console

        console = get_console()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None, table_column=Column(max_width=BAR_WIDTH)),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self._epoch_task = self._progress.add_task("epochs", total=trainer.epochs, info="")
        self._step_task = self._progress.add_task("steps ", total=trainer.batches_per_epoch, info="")
        self._metrics = _Metrics()
        self._live = Live(Group(self._progress, self._metrics), console=console, refresh_per_second=4)
        self._live.start()

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
        self._metrics.parts = [f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("val_")]
        self._progress.update(self._epoch_task, completed=epoch + 1)
        self._progress.reset(self._step_task, info="")
        self._last_refresh = -math.inf  # the next epoch's first loss shows at once, not up to 1/4 s later

    def on_train_end(self, trainer: Trainer) -> None:
        self.close()

    def on_experiment_end(self, orchestrator: Any, status: str, error: BaseException | None = None) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # draws the last state once more and leaves it on the screen
            self._live = None
        self._progress = None


class _Metrics:
    """The last validation metrics, as many to a line as fit, a name never apart from its value."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.cells import cell_len
        from rich.text import Text

        line = ""
        for part in self.parts:
            if line and cell_len(line) + 2 + cell_len(part) > options.max_width:
                yield Text(line, overflow="fold")
                line = part
            else:
                line = f"{line}  {part}" if line else part
        if line:
            yield Text(line, overflow="fold")  # fold: a part wider than the terminal breaks, not "…"
