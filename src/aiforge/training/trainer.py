"""The training loop: epochs of optimizer steps, validation, callbacks, and resumable progress."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterable
from typing import Any

import torch

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import Item
from aiforge.data.batching import order_state, read_batches, restore_order_state, set_batches_epoch, to_device
from aiforge.errors import CheckpointError
from aiforge.numerics import all_finite, weighted_loss_sum
from aiforge.runtime.distributed import all_reduce_sum, any_rank, is_initialized
from aiforge.runtime.log import logger
from aiforge.runtime.seeding import restore_rng_states
from aiforge.runtime.signals import RunInterrupted, StopRequests
from aiforge.training.checkpoint import TrainingProgress, model_state, restore_training_state, training_state
from aiforge.training.ddp import wrap_for_ddp
from aiforge.training.evaluation import evaluate, uses_inference_mode
from aiforge.training.output_checks import check_forward, check_step_outputs
from aiforge.training.precision import precision_for
from aiforge.training.step_failures import TrainingError, step_failure
from aiforge.utils.callbacks import Callback
from aiforge.utils.metrics import MetricSet


class Trainer:
    """Runs epochs over prepared batches; knows nothing about files or plugins' origins.

    Progress lives in ``progress`` (a :class:`~aiforge.training.checkpoint.TrainingProgress`:
    epochs, optimizer steps, history, the current epoch's losses and data order), so
    :meth:`full_state` can capture it after any optimizer step and :meth:`load_full_state` can
    continue from there exactly. Every callback gets this trainer as ``callback.trainer`` when the
    trainer is built; at its save points the trainer calls each callback's ``on_save_point``.
    """

    def __init__(
        self,
        model: BaseModel,
        optimizer: torch.optim.Optimizer,
        config: TrainingConfig,
        device: torch.device,
        metrics: MetricSet,
        callbacks: list[Callback] | None = None,
        plugin_names: tuple[str, str] = ("model", "dataset"),
        stop_requests: StopRequests | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.device = device
        self.metrics = metrics
        self.callbacks = callbacks or []
        for callback in self.callbacks:  # before any hook runs: how a callback reaches its trainer
            callback.trainer = self
        self.model_name, self.dataset_name = plugin_names
        self.stop_requests = stop_requests
        self.num_classes = num_classes  # for the first batch's output check (None: width unchecked)
        self._outputs_checked = False
        self._validating = ""  # "epoch N, " while the validation of epoch N runs
        # Only callbacks with per-batch work are called per batch.
        self._batch_callbacks = [
            cb
            for cb in self.callbacks
            if getattr(cb.on_train_batch_end, "__func__", None) is not Callback.on_train_batch_end
        ]
        self.precision = precision_for(config.precision, device)
        if config.compile:  # compiles __call__ in place: same module, same state_dict keys
            model.compile(**(config.compile.model_dump() if config.compile is not True else {}))
        self._ddp = wrap_for_ddp(model, device) if is_initialized() else None
        self.progress = TrainingProgress()  # epochs, steps, history, the current epoch's part done
        self.train_batches: Iterable[Item] | None = None
        self._new_epoch_progress()
        self._rng_to_restore: dict[str, Any] | None = None
        self._losses_finite_at: tuple[int, int] | None = None  # (epoch's first step, losses) checked
        self._weights_finite_at: tuple[int, ...] | None = None  # parameter versions last checked
        self._resumed = False
        self._continue_epoch = False

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.progress.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.progress.epoch = value

    @property
    def global_step(self) -> int:
        """Optimizer steps taken."""
        return self.progress.global_step

    @global_step.setter
    def global_step(self, value: int) -> None:
        self.progress.global_step = value

    @property
    def history(self) -> list[dict[str, float]]:
        """One row of logs per completed epoch."""
        return self.progress.history

    @property
    def position(self) -> tuple[int, int, int]:
        """Where training stands: (epochs done, optimizer steps, batches done in the current epoch)."""
        progress = self.progress
        return (progress.epoch, progress.global_step, progress.batches_done)

    @property
    def resumed(self) -> bool:
        """Whether this trainer continues from a checkpoint (:meth:`load_full_state`)."""
        return self._resumed

    def release_process_group(self) -> None:
        """Drop the DDP wrapper, which holds the process group: it must not outlive the group."""
        self._ddp = None

    def _new_epoch_progress(self) -> None:
        self.progress.start_epoch(order_state(self.train_batches))  # the order fixes this epoch's shuffle

    # -- the loop ------------------------------------------------------------------------
    def fit(
        self,
        train_batches: Iterable[Item],
        val_batches: Iterable[Item],
        epochs: int,
        resume_state: dict[str, Any] | None = None,
    ) -> list[dict[str, float]]:
        """Train until ``epochs`` are done or a callback stops.

        ``resume_state``: a shorthand for calling :meth:`load_full_state` with it first (the one
        resume path, which the Orchestrator calls itself): the same load and the same
        :class:`~aiforge.errors.CheckpointError` for a checkpoint that does not fit the model.
        """
        self.epochs = epochs
        self.batches_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
        self.train_batches = train_batches
        if resume_state is not None:
            self.load_full_state(resume_state)
        if self._resumed:
            restore_order_state(train_batches, self.progress.data_order)
        else:
            self._new_epoch_progress()
        fused = any(group.get("fused") for group in self.optimizer.param_groups)
        logger.info(f"Optimizer {type(self.optimizer).__name__}{' (fused kernel)' if fused else ''}")
        for callback in self.callbacks:
            callback.on_train_start(self)
        if self.stop_requests is not None:
            self.stop_requests.armed = True
        try:
            while self.epoch < epochs and not any(cb.stop_training for cb in self.callbacks):
                self._run_epoch(train_batches, val_batches)
            # The final state, before any on_train_end sees the files (while armed: a signal waits).
            saved = self._save_point()
            if self._stop_agreed():
                self._raise_interrupted(saved)
        finally:
            if self.stop_requests is not None:
                self.stop_requests.armed = False
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def _run_epoch(self, train_batches: Iterable[Item], val_batches: Iterable[Item]) -> None:
        epoch = self.epoch
        train_loss = self.train_epoch(train_batches, epoch)
        self._validating = f"epoch {epoch + 1}, "  # for messages: which validation failed
        try:
            val_loss, val_metrics = self.evaluate(val_batches)
        finally:
            self._validating = ""
        logs = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            **{f"val_{name}": value for name, value in val_metrics.items()},
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        self.progress.history.append(logs)
        shown = " | ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in ("epoch", "lr"))
        logger.info(f"Epoch {epoch + 1}/{self.epochs} | {shown}")
        self.progress.epoch += 1  # before the callbacks: last.pt then records a completed epoch
        self._new_epoch_progress()
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)
        if self._stop_agreed():
            self._raise_interrupted(self._save_point())  # unless this epoch's checkpoint is written

    def train_epoch(self, batches: Iterable[Item], epoch: int) -> float:
        """One pass over the training batches (the rest of one, after a resume); the mean loss per sample."""
        self.model.train()
        accumulate = self.config.gradient_accumulation_steps
        skip_nonfinite = self.config.nonfinite_loss == "skip"
        every = self.config.checkpoint_every_n_steps
        batch_count = len(batches) if hasattr(batches, "__len__") else None
        if not self._continue_epoch:  # a new epoch, unless a checkpoint left this one half done
            self._new_epoch_progress()
            self.progress.data_order = order_state(batches)
        self._continue_epoch = False
        set_batches_epoch(batches, epoch)  # before its first batch is drawn
        iterator = read_batches(batches, self.dataset_name, f"training batch {{batch}} of epoch {epoch + 1}")
        for _ in range(self.progress.batches_done):  # already trained on before the resume
            next(iterator)
        if self._rng_to_restore is not None:  # after skipping: a dataset may draw random numbers
            restore_rng_states(self._rng_to_restore)
            self._rng_to_restore = None
        # Per step, only the work this run needs: on a tiny model each Python call is a visible
        # share of the step, so the usual case (one process, no accumulation) calls little.
        move = self.device.type != "cpu"
        stops = self.stop_requests
        checks_each_step = self._ddp is not None or bool(every)
        self.optimizer.zero_grad(set_to_none=True)
        in_group = 0  # batches whose gradients wait for the next optimizer step
        for index, raw_batch in enumerate(iterator, start=self.progress.batches_done):
            batch = to_device(raw_batch, self.device) if move else raw_batch
            steps_now = in_group + 1 >= accumulate or index + 1 == batch_count
            if self._ddp is not None and not (steps_now or batch_count is None):
                with self._ddp.no_sync():  # inside an accumulation group, gradients wait for its last batch
                    loss, counted = self._learn_from(batch, index, epoch, accumulate, skip_nonfinite)
            else:
                loss, counted = self._learn_from(batch, index, epoch, accumulate, skip_nonfinite)
            in_group += counted
            stepped = in_group > 0 and (in_group == accumulate or index + 1 == batch_count)
            if stepped:
                self._optimizer_step(in_group)
                in_group = 0
            for callback in self._batch_callbacks:
                callback.on_train_batch_end(index, loss.detach())
            if stepped:
                self.progress.batches_done = index + 1
                if checks_each_step or (stops is not None and stops.requested):
                    self._after_step(every)
        if in_group:
            self._optimizer_step(in_group)  # the last partial accumulation of an unsized loader
        return self._epoch_mean_loss(epoch)

    def _learn_from(
        self, batch: Item, index: int, epoch: int, accumulate: int, skip_nonfinite: bool
    ) -> tuple[torch.Tensor, bool]:
        """Forward and backward on one batch: its loss, and False when that loss was skipped."""
        where = f"training batch {index + 1} of epoch {epoch + 1}"
        try:
            step = self._ddp if self._ddp is not None else self.model.training_step
            outputs = self.precision.run(step, batch, index)
            loss = outputs["loss"]
        except Exception as err:
            if not self._outputs_checked:  # a width the loss rejected itself: exit 2 naming the plugin
                # Only after a failure, so a run that trains calls its forward no extra time.
                checked = (self.config.loss_fn_name, self.num_classes, self.model_name, where)
                check_forward(self.model, batch, *checked, self.precision.run)
            raise self._step_failure("training_step", f"epoch {epoch + 1}, batch {index + 1}", err) from err
        if not self._outputs_checked:  # once: predictions that fit the task (exit 2 if not)
            checked = (self.config.loss_fn_name, self.num_classes, self.model_name, where)
            check_step_outputs(self.model, outputs, batch, *checked)
            self._outputs_checked = True
        if skip_nonfinite and self._ddp is None and not bool(torch.isfinite(loss.detach())):
            logger.warning(f"Skipped batch {index + 1} of epoch {epoch + 1}: loss {loss.item()}")
            return loss, False
        self.precision.backward(loss / accumulate if accumulate > 1 else loss)
        self.progress.epoch_losses.append(loss.detach().float())
        self.progress.epoch_sizes.append(len(batch["labels"]) if "labels" in batch else 1)
        return loss, True

    def _after_step(self, every: int | None) -> None:
        """A step checkpoint every N steps; on a stop request, a checkpoint and then stop."""
        stopping = self._stop_agreed()
        saved = False
        if stopping or (every and self.progress.global_step % every == 0):
            saved = self._save_point()
        if stopping:
            self._raise_interrupted(saved)

    def _save_point(self) -> bool:
        """A point to keep the state at (a step checkpoint, a stop, the end): every callback's
        ``on_save_point``; whether one of them keeps checkpoints."""
        return any([callback.on_save_point() for callback in self.callbacks])  # a list: all are called

    def _stop_agreed(self) -> bool:
        """Whether to stop now: under DDP, all ranks agree (one tiny all-reduce per step), so they
        stop after the same step and rank 0's checkpoint is the job's; alone, a flag check."""
        requested = self.stop_requests is not None and self.stop_requests.requested
        return any_rank(requested) if self._ddp is not None else requested

    def _raise_interrupted(self, saved: bool) -> None:
        """Stop the run; ``saved``: whether a callback keeps a checkpoint of this point."""
        signum = self.stop_requests.signum if self.stop_requests is not None else None
        # A rank that did not get the signal itself stops with the one the job got (SIGTERM).
        raise RunInterrupted(signum or signal.SIGTERM, checkpoint_saved=saved)

    def _step_failure(self, step: str, where: str, error: BaseException) -> TrainingError:
        inference, compiled = self._inference_mode(), bool(self.config.compile)
        return step_failure(self.model_name, step, where, error, inference, compiled)

    def _epoch_mean_loss(self, epoch: int) -> float:
        """The per-sample mean of this epoch's batch losses: the epoch's one host sync."""
        progress = self.progress
        if not progress.epoch_losses and self._ddp is None:
            raise TrainingError(f"epoch {epoch + 1} had no batch with a finite loss; nothing was trained")
        # A loss may have shape [1].
        losses = torch.stack(progress.epoch_losses).reshape(-1).tolist() if progress.epoch_losses else []
        # Under DDP, skipped steps still recorded their loss: "skip" drops them here.
        weighted, size = weighted_loss_sum(losses, progress.epoch_sizes, self.config.nonfinite_loss == "skip")
        total, count = all_reduce_sum(weighted, size)  # over every rank
        mean = total / count if count else float("nan")
        if not math.isfinite(mean):
            self.raise_if_not_finite(epoch)  # names this rank's batch when it has the bad one
            raise TrainingError(f"the training loss became {mean} in epoch {epoch + 1} on another process")
        if progress.epoch_losses and self.config.nonfinite_loss == "stop":
            # A finite float64 sum over every rank's losses: each of them was finite.
            self._losses_finite_at = (progress.epoch_start_step, len(progress.epoch_losses))
        self.raise_if_not_finite(epoch)  # the weights
        return mean

    def raise_if_not_finite(self, epoch: int | None = None) -> None:
        """Stop before non-finite losses or weights can reach a checkpoint (checked once per step)."""
        epoch = self.epoch if epoch is None else epoch
        progress = self.progress
        losses_now = (progress.epoch_start_step, len(progress.epoch_losses))
        if (
            progress.epoch_losses
            and self.config.nonfinite_loss == "stop"
            and losses_now != self._losses_finite_at
        ):
            # skip: steps were dropped
            finite = torch.isfinite(torch.stack(progress.epoch_losses).reshape(-1))
            bad_here = not bool(finite.all())
            # Under DDP every rank decides alike (all get here alike), so all stop together.
            bad_anywhere = any_rank(bad_here) if self._ddp is not None else bad_here
            if bad_here:
                position = int((~finite).nonzero()[0])
                value = float(progress.epoch_losses[position])
                step = progress.epoch_start_step + position // self.config.gradient_accumulation_steps + 1
                raise TrainingError(
                    f"the training loss became {value} in epoch {epoch + 1}, batch {position + 1} "
                    f"(optimizer step {step}); lower the learning rate, set gradient_clip_norm, or set "
                    "training_config.nonfinite_loss: skip. The last checkpoint is kept as it was."
                )
            if bad_anywhere:
                raise TrainingError(
                    f"the training loss became non-finite on another process in epoch {epoch + 1} "
                    f"(before optimizer step {self.global_step + 1}); the last checkpoint is kept as it was"
                )
            self._losses_finite_at = losses_now
        # Every in-place change of a parameter (optimizer step, a callback's edit, a load) moves
        # its version counter: unchanged versions, unchanged weights, nothing to check again.
        parameters = list(self.model.parameters())
        versions = tuple(p._version for p in parameters)
        if versions == self._weights_finite_at:
            return
        if not all_finite(parameters):
            raise TrainingError(
                f"the model's weights are no longer finite in epoch {epoch + 1} (optimizer step "
                f"{self.global_step}); the last checkpoint is kept as it was"
            )
        self._weights_finite_at = versions

    def _optimizer_step(self, batches: int) -> None:
        """Step on the gradients of ``batches`` accumulated batches."""
        accumulate = self.config.gradient_accumulation_steps
        if batches < accumulate:
            # A short last group: each loss was divided by `accumulate`; average over the
            # batches it really has, or the epoch's last update would shrink.
            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(accumulate / batches)
        checks_gradients = self._ddp is not None and self.config.nonfinite_loss == "skip"
        if self.config.gradient_clip_norm or checks_gradients:
            self.precision.unscale(self.optimizer)  # true gradients first (the step unscales by itself)
        if self.config.gradient_clip_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip_norm)
        if checks_gradients and not self._gradients_finite():
            # Gradients are already averaged over the ranks, so every rank skips this same step.
            logger.warning(f"Skipped optimizer step {self.global_step + 1}: non-finite gradients")
            self.precision.skip_step()
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.precision.step(self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.global_step += 1

    def _gradients_finite(self) -> bool:
        return all_finite([p.grad for p in self.model.parameters() if p.grad is not None])

    def evaluate(self, batches: Iterable[Item]) -> tuple[float, dict[str, float]]:
        """Mean loss per sample and metrics over all batches (the loop ``aiforge evaluate`` also runs)."""
        names, compiled = (self.model_name, self.dataset_name), bool(self.config.compile)
        return evaluate(
            self.model,
            batches,
            self.metrics,
            self.device,
            self.precision,
            inference_mode=self._inference_mode(),
            plugin_names=names,
            compiled=compiled,
            context=self._validating,
        )

    def _inference_mode(self) -> bool:
        return uses_inference_mode(self.config.inference_mode)

    # -- state ---------------------------------------------------------------------------
    def model_state(self) -> dict[str, Any]:
        """A copy in CPU memory: a best state kept for later never holds GPU memory."""
        return model_state(self.model)

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)

    def full_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly from here (training/checkpoint.py's format).

        Taken after an optimizer step (never inside an accumulation group) or after an epoch.
        """
        return training_state(self.model, self.optimizer, self.progress, self.precision, self.callbacks)

    def load_full_state(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        """Continue from :meth:`full_state`: the one way a run resumes (``fit(resume_state=)`` calls
        it); the data order goes into the loader when fit() starts, the global RNGs just before the
        next batch.

        A state that does not fit the model or optimizer (another model, or plugin code changed
        since it was written) is a CheckpointError naming ``source`` (exit 2); the trainer is then
        half loaded and must not be used.
        """
        try:
            self._rng_to_restore = restore_training_state(
                state, self.model, self.optimizer, self.progress, self.precision, self.callbacks, self.device
            )
        except (RuntimeError, ValueError, KeyError) as err:
            details = " ".join(str(err).split())[:600]
            raise CheckpointError(
                f"{source} does not fit the model ({type(self.model).__name__}): {details}"
            ) from None
        self._losses_finite_at = self._weights_finite_at = None
        self._resumed = True
        self._continue_epoch = True
