"""Training callbacks: small classes with named hooks and a resumable state."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Literal

from aiforge.runs import files as run_files
from aiforge.runtime import distributed
from aiforge.runtime.log import logger
from aiforge.training.checkpoint import best_state, every_rank_rng_entry, read_best_state

# The hooks take the Orchestrator and the Trainer typed as Any: both import this module, and a
# module never imports one that imports it back.


class Callback:
    """Hooks the trainer calls; override the ones you need.

    ``on_epoch_end`` gets the 0-based epoch index (the seed's convention); ``logs["epoch"]``
    is the 1-based epoch number shown in logs and ``metrics.csv``.

    ``trainer``: the Trainer running this callback, for hooks that need more than their arguments
    (its ``model``, ``epoch``, ``global_step``, ``history``, ``full_state()``). Set by the Trainer on
    every callback when it is built, so before ``on_experiment_start`` and ``on_train_start``;
    None until then (a callback not yet given to a Trainer). Use it instead of keeping the
    ``trainer`` that ``on_train_start`` receives.
    """

    stop_training: bool = False
    trainer: Any = None

    def on_experiment_start(self, orchestrator: Any) -> None:
        """Once per run, after data and model are ready and before the first epoch."""

    def on_experiment_end(self, orchestrator: Any, status: str, error: BaseException | None = None) -> None:
        """Once per run that started: status is FINISHED, FAILED or KILLED."""

    def on_train_start(self, trainer: Any) -> None: ...

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        """After each training batch; ``loss`` is a tensor (``.item()`` syncs, so do it sparingly).

        Called only on callbacks that override it, so the loop pays nothing otherwise.
        """

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Any) -> None: ...

    def on_save_point(self) -> bool:
        """At the trainer's save points (every ``checkpoint_every_n_steps`` steps, a stop request,
        the end of training): a callback that keeps checkpoints writes one of the trainer's state
        now (unless it holds this point already) and returns True; the others return False."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _initial_best(mode: str) -> float:
    return math.inf if mode == "min" else -math.inf


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (the seed's rule)."""

    def __init__(
        self,
        patience: int,
        min_delta: float = 0.001,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] = "min",
    ) -> None:
        if not isinstance(patience, int) or patience < 1:
            raise ValueError("Argument patience should be positive integer.")
        if mode not in ("min", "max"):
            raise ValueError("EarlyStopping mode must be 'min' or 'max'.")
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.monitor = monitor
        self.mode = mode
        self.best_value = _initial_best(mode)
        self.epochs_no_improve = 0
        self.stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            logger.warning(f"EarlyStopping: '{self.monitor}' not in logs at epoch {epoch + 1}; skipped")
            return
        if _improved(value, self.best_value, self.mode, self.min_delta):
            self.best_value = value
            self.epochs_no_improve = 0
        else:
            self.epochs_no_improve += 1
        if self.epochs_no_improve >= self.patience:
            self.stop_training = True
            logger.info(
                f"Early stopping after epoch {epoch + 1}: {self.monitor} has not improved by more "
                f"than {self.min_delta:g} for {self.patience} epoch(s)"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_value": self.best_value,
            "epochs_no_improve": self.epochs_no_improve,
            "stop_training": self.stop_training,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_value = state["best_value"]
        self.epochs_no_improve = state["epochs_no_improve"]
        self.stop_training = state["stop_training"]


class ModelCheckpoint(Callback):
    """Keep ``best.pt`` (by ``monitor``) and the two latest full states, ``last.pt`` and ``previous.pt``.

    ``last.pt`` holds everything a resume needs; it is written after every ``every_n_epochs``-th
    epoch (``0``: only when training ends or is stopped), at the trainer's step checkpoints and
    always after the last epoch. The best weights wait in memory and go to ``best.pt`` just
    before each ``last.pt``, so the ``best.pt`` on disk is at least as new as the best that
    ``last.pt`` records (the same, unless a crash fell between the two writes). Both are on disk
    when the hook returns: a crash right after loses nothing written. The best weights are
    restored at the end. ``extra_state`` is added to every ``last.pt`` (the run's resolved config).
    """

    def __init__(
        self,
        directory: Path,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] = "min",
        restore_best: bool = True,
        extra_state: dict[str, Any] | None = None,
        every_n_epochs: int = 1,
    ) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be 0 or more, not {every_n_epochs}")
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.restore_best = restore_best
        self.extra_state = dict(extra_state or {})
        self.every_n_epochs = every_n_epochs
        self.best_value = _initial_best(mode)
        self.best_epoch: int | None = None
        self._unsaved_best: dict[str, Any] | None = None  # best.pt's next content, on rank 0
        self.saved_at: tuple[int, int, int] | None = None  # (epoch, step, batches done) of last.pt
        self._writes = True  # whether this process writes the files (decided when training starts)

    @property
    def best_path(self) -> Path:
        return self.directory / run_files.BEST_CHECKPOINT

    @property
    def last_path(self) -> Path:
        return self.directory / run_files.LAST_CHECKPOINT

    @property
    def previous_path(self) -> Path:
        return self.directory / run_files.PREVIOUS_CHECKPOINT

    def on_train_start(self, trainer: Any) -> None:
        # Under torchrun, rank 0 writes; every rank keeps the record.
        self._writes = distributed.is_main_process()
        if trainer.resumed:  # the checkpoint it continues from is on disk already
            self.saved_at = trainer.position

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        trainer = self.trainer
        assert trainer is not None, "not given to a Trainer"
        trainer.raise_if_not_finite(epoch)
        value = logs.get(self.monitor)
        if value is not None and math.isfinite(value) and _improved(value, self.best_value, self.mode, 0.0):
            self.best_value, self.best_epoch = value, epoch + 1
            if self._writes:
                model = trainer.model_state()
                self._unsaved_best = best_state(model, epoch + 1, self.monitor, value)
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            self.save_last(trainer)

    def save_last(self, trainer: Any) -> None:
        """Write ``last.pt`` (the one before becomes ``previous.pt``), and ``best.pt`` first when the
        best changed since; never non-finite weights."""
        trainer.raise_if_not_finite()
        # Under torchrun every rank gets here at the same step (the stop and checkpoint points are
        # agreed), so the gather of each rank's generators cannot leave one rank waiting.
        rng_entry = every_rank_rng_entry()
        if distributed.is_main_process():
            if self._unsaved_best is not None:
                run_files.save_state(self.best_path, self._unsaved_best)
                self._unsaved_best = None
            state = {**trainer.full_state(), **self.extra_state, **rng_entry}
            run_files.save_state(self.last_path, state, self.previous_path)
            logger.debug(f"Checkpoint: epoch {trainer.epoch}, optimizer step {trainer.global_step}")
        self.saved_at = trainer.position

    def save_if_new(self, trainer: Any) -> None:
        """:meth:`save_last`, unless ``last.pt`` already holds the trainer's current position."""
        if trainer.position != self.saved_at:
            self.save_last(trainer)

    def on_save_point(self) -> bool:
        """``last.pt`` holds the trainer's state at every save point."""
        assert self.trainer is not None, "not given to a Trainer"
        self.save_if_new(self.trainer)
        return True

    def on_train_end(self, trainer: Any) -> None:
        self.save_if_new(trainer)  # the final state, when the last epoch was not a checkpoint epoch
        # Rank 0 reads best.pt (other machines may not see its disk) and hands the weights on.
        best = self._saved_best() if distributed.is_main_process() else None
        best = distributed.broadcast_object(best) if self.restore_best else best
        if self.restore_best and best is not None:
            trainer.load_model_state(best)
            logger.info(
                f"Restored the best weights (epoch {self.best_epoch}, {self.monitor}={self.best_value:.4f})"
            )

    def _saved_best(self) -> dict[str, Any] | None:
        """best.pt's weights, if they are the best epoch this run records.

        They may not be: a crash between writing best.pt and last.pt, then a resume whose
        replayed epochs (non-deterministic GPU kernels) did not improve again.
        """
        if not self.best_path.exists():
            return None
        saved_epoch, weights = read_best_state(self.best_path)
        if saved_epoch != self.best_epoch:
            logger.warning(
                f"{self.best_path} holds epoch {saved_epoch}, not this run's best epoch "
                f"{self.best_epoch} (written before a crash, then not improved on after the resume); "
                "the final weights are kept"
            )
            return None
        return weights

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Back to the checkpoint's best, which its ``best.pt`` holds."""
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self._unsaved_best = None


class LRSchedulerCallback(Callback):
    """Step an LR scheduler once per epoch (ReduceLROnPlateau gets the monitored value), or, with
    ``interval="step"``, once per optimizer step: after each batch whose step advanced
    ``trainer.global_step`` (a step skipped for non-finite gradients does not count).

    A OneCycleLR (alone or after a warmup) is stepped at most ``total_steps - 1`` times: its
    ``total_steps`` optimizer steps use its steps 0 .. total_steps - 1, and one more step would
    give an LR past the end of its curve (torch's formula turns back up there; further, it
    raises). The LR then stays at its last value, with a warning once a step beyond the schedule
    is asked for (e.g. a size given too small).
    """

    def __init__(self, scheduler: Any, monitor: str = "val_loss", interval: str = "epoch") -> None:
        self.scheduler = scheduler
        self.monitor = monitor
        self.interval = interval
        self._stepped_at = 0  # the trainer's global_step when the scheduler last caught up
        self._held = 0  # steps not taken since a OneCycleLR reached its end
        if interval == "epoch":  # nothing per batch: the Trainer then does not call this callback per batch
            self.on_train_batch_end = super().on_train_batch_end  # type: ignore[method-assign]

    def on_train_start(self, trainer: Any) -> None:
        self._stepped_at = trainer.global_step  # a resumed scheduler has taken the steps before this

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        self._catch_up()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.interval == "step":
            self._catch_up()  # a step the loop took after its last batch (a loader without length)
            return
        from torch.optim.lr_scheduler import ReduceLROnPlateau

        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(logs[self.monitor])
        else:
            self._step()

    def _catch_up(self) -> None:
        """One scheduler step per optimizer step taken since the last call."""
        global_step = self.trainer.global_step
        while self._stepped_at < global_step:
            self._stepped_at += 1
            self._step()

    def _step(self) -> None:
        if not self._one_cycle_done():
            self.scheduler.step()
            return
        self._held += 1
        if self._held == 2:  # the first is the run's last step, whose next LR no step uses
            logger.warning(
                "The OneCycleLR schedule has used all its total_steps; the LR stays at "
                f"{self.scheduler.get_last_lr()[0]:.3g} for the rest of the run"
            )

    def _one_cycle_done(self) -> bool:
        """Whether the schedule's active part is a OneCycleLR at its last step (total_steps - 1)."""
        from bisect import bisect_right

        from torch.optim.lr_scheduler import OneCycleLR, SequentialLR

        active = self.scheduler
        if isinstance(active, SequentialLR):
            milestones = active._milestones
            index = bisect_right(milestones, active.last_epoch)
            if index < len(milestones) and milestones[index] == active.last_epoch + 1:
                return False  # this step starts the next part, at its step 0
            active = active._schedulers[index]
        return isinstance(active, OneCycleLR) and active.last_epoch >= active.total_steps - 1

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


class MetricsHistory(Callback):
    """Keep ``metrics.csv`` up to date, so the history can be watched and survives a crash.

    New epochs are appended (new columns rewrite the file) at most once per
    ``flush_interval_s``: after every epoch when epochs take longer, while tiny epochs do not pay a
    file write each. The rest is written by ``on_train_end`` and by ``on_experiment_end``, which
    the Orchestrator calls for failed and stopped runs too (with a bare Trainer that raised, call
    :meth:`flush`). Not fsynced: a resume rewrites the file from the checkpoint's rows anyway.
    """

    def __init__(self, path: Path, flush_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.rows: list[dict[str, float]] = []
        self._columns: list[str] | None = None  # the header of the file on disk
        self._rows_in_file = 0
        self._written_at = -math.inf  # time.monotonic() of the last write: the first epoch goes at once
        self._writes = True  # whether this process writes the file (decided when training starts)

    def on_train_start(self, trainer: Any) -> None:
        self._writes = distributed.is_main_process()  # under torchrun, rank 0 writes the file

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.rows.append(dict(logs))
        if self._writes and time.monotonic() - self._written_at >= self.flush_interval_s:
            self._write()

    def on_train_end(self, trainer: Any) -> None:
        self.flush()

    def on_experiment_end(self, orchestrator: Any, status: str, error: BaseException | None = None) -> None:
        self.flush()  # a failed or stopped run keeps every epoch it finished

    def flush(self) -> None:
        """Write the epochs not yet in the file."""
        if self._writes and self._rows_in_file != len(self.rows):
            self._write()

    def _write(self) -> None:
        columns = self._columns
        new_rows = self.rows[self._rows_in_file :]
        if (
            columns is not None
            and new_rows
            and all(row.keys() <= set(columns) for row in new_rows)
            and self.path.exists()
        ):
            run_files.append_text(self.path, _csv_text(columns, new_rows, header=False))
        else:
            columns = list(dict.fromkeys(key for row in self.rows for key in row))
            run_files.write_text(self.path, _csv_text(columns, self.rows, header=True), durable=False)
        self._columns, self._rows_in_file = columns, len(self.rows)
        self._written_at = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Back to the checkpoint's rows; the file drops epochs trained after it, which will be redone."""
        self.rows = [dict(row) for row in state["rows"]]
        self._columns = None  # the file is rewritten whole
        # A failure before training starts must not write elsewhere.
        self._writes = distributed.is_main_process()
        if not self._writes:
            return
        if self.rows:
            self._write()
        else:
            self.path.unlink(missing_ok=True)
            self._rows_in_file = 0
        self._written_at = -math.inf  # the next epoch's row goes out at once, however soon it ends


def _csv_text(columns: list[str], rows: list[dict[str, float]], header: bool) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def __getattr__(name: str) -> Any:
    """``MLflowCallback``, which the seed imports from here, from its home in tracking/ on first use:
    importing this module stays free of mlflow, and tracking/ imports this module, never the reverse."""
    if name != "MLflowCallback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return importlib.import_module("aiforge.tracking.mlflow_callback").MLflowCallback
