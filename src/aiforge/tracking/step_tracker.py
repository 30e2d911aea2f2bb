"""The part the TensorBoard, CSV and W&B trackers share: rank 0 only, failures isolated, and the
per-step values (the training loss every ``log_every_n_steps`` optimizer steps, the LR at every
step when the scheduler steps per step), all on the optimizer step axis."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from aiforge.runtime.distributed import is_main_process
from aiforge.tracking.isolation import IsolatedTracker, guarded
from aiforge.tracking.run_values import STEP_LOSS, STEP_LR
from aiforge.utils.callbacks import Callback


class StepValues:
    """The per-step values due after a training batch: one rule for every backend, MLflow's too.

    ``log_every_n_steps``: the training loss (``step_train_loss``) every N optimizer steps;
    ``lr_per_step``: ``step_lr`` after every optimizer step. The x axis is the optimizer step
    (``trainer.global_step``): a batch inside a gradient-accumulation group logs nothing.
    """

    def __init__(self, log_every_n_steps: int | None, lr_per_step: bool) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.lr_per_step = lr_per_step
        self.last_step = 0  # the last optimizer step whose values were taken (0: none yet)

    def skip_batches_unless_wanted(self, callback: Callback) -> None:
        """Without step values the trainer never calls ``callback`` per batch."""
        if not (self.log_every_n_steps or self.lr_per_step):
            callback.on_train_batch_end = Callback.on_train_batch_end.__get__(callback)  # type: ignore[method-assign]

    def after_batch(self, trainer: Any, loss: Any) -> tuple[int, dict[str, float]]:
        """(optimizer step, the values due at it): none unless the batch ended a new step."""
        step = int(trainer.global_step)
        if step <= self.last_step:
            return step, {}
        self.last_step = step
        values: dict[str, float] = {}
        if self.lr_per_step:
            values[STEP_LR] = float(trainer.optimizer.param_groups[0]["lr"])
        if self.log_every_n_steps and step % self.log_every_n_steps == 0:
            values[STEP_LOSS] = float(loss)  # one host sync per N steps
        return step, values


class StepTracker(IsolatedTracker):
    """A tracker that logs epochs and, when asked, optimizer steps (:class:`StepValues`); x axis:
    ``trainer.global_step``."""

    def __init__(self, log_every_n_steps: int | None = None, lr_per_step: bool = False) -> None:
        self.steps = StepValues(log_every_n_steps, lr_per_step)
        self.steps.skip_batches_unless_wanted(self)
        self.active = is_main_process()

    @guarded("logging a step's values")
    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        """After an optimizer step (not every batch under gradient accumulation)."""
        step, values = self.steps.after_batch(self.trainer, loss)
        if values:
            self.log_step(values, step)

    @abstractmethod
    def log_step(self, values: dict[str, float], step: int) -> None:
        """Log one optimizer step's values."""

    def current_step(self) -> int:
        """The optimizer steps taken so far: the x axis of every value logged now."""
        return int(self.trainer.global_step) if self.trainer is not None else 0

    @staticmethod
    def checkpoint_position(orchestrator: Any) -> tuple[int, int] | None:
        """(optimizer steps, epochs done) of the checkpoint a resumed run continues from; None for a
        new run. Values logged past it before the crash are logged again, so they are dropped first."""
        trainer = getattr(orchestrator, "trainer", None)
        if trainer is None or not getattr(trainer, "resumed", False):
            return None
        return int(trainer.global_step), int(trainer.epoch)
