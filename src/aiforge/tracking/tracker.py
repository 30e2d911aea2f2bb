"""The tracker interface: what a run needs from a tracking backend (MLflow, TensorBoard, CSV, W&B).

A tracker is a training callback with a few more duties. The run uses trackers only through this
class, so a new backend is one subclass and one entry in :func:`aiforge.tracking.trackers.trackers_for`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

from aiforge.utils.callbacks import Callback

if TYPE_CHECKING:
    from pathlib import Path

    from aiforge.config.model_configs import ExperimentConfig


class TrackedRun(Protocol):
    """What a tracker may read from the run its experiment hooks get (the Orchestrator is one)."""

    @property
    def config(self) -> ExperimentConfig:
        """The run's resolved config (its params)."""

    @property
    def run_dir(self) -> Path | None:
        """The run folder: its files are the run's artifacts."""

    @property
    def trainer(self) -> Any:
        """The run's Trainer (``history``: the epochs so far, also those of a resumed run)."""

    def inference_model(self) -> Any:
        """The trained model with its preprocessor: raw features in, predictions out."""

    def feature_names(self) -> list[str]:
        """The names of the flattened feature columns."""

    def numeric_example(self) -> Any:
        """A validation batch before preprocessing as a tensor of numbers; None when the raw
        inputs are not numbers (texts, a table with categories)."""


class Tracker(Callback, ABC):
    """A tracking backend: one AIForge run is one tracked run. Only rank 0 should send anything.

    A new tracker must implement:

    - ``on_experiment_start(orchestrator)``: open the tracked run; the argument is a
      :class:`TrackedRun` (config, run_dir, trainer.history on a resume). Once, before the first epoch.
    - ``on_epoch_end(epoch, logs)``: log the epoch's metrics; ``logs["epoch"]`` is the 1-based step.
    - ``on_experiment_end(orchestrator, status, error)``: send what is left and close the tracked run;
      ``status`` is FINISHED, FAILED or KILLED. A backend that fails mid-run should warn and stop
      tracking, never fail the run: the run folder keeps every result.

    It may override (the defaults do nothing):

    - ``check_store(run_dir)``: fail fast (an AIForgeError, exit 2) before the run folder is made
      when the backend cannot be used; ``run_dir`` is the folder of a run being resumed.
    - ``run_id``: the tracked run's id, set by rank 0 in ``on_experiment_start``; under torchrun
      the Orchestrator hands it to the other ranks.
    - ``state_dict``/``load_state_dict``: saved in each checkpoint, so a resume continues the same
      tracked run; ``on_train_batch_end`` for per-step metrics (called only when overridden).
    - ``parent_run_id``: set (before the run starts) by a sweep to its own tracked run's id: the
      run is then tracked as that run's child (MLflow: a nested run). A backend without nesting
      may ignore it.
    """

    run_id: str | None = None
    parent_run_id: str | None = None

    def check_store(self, run_dir: Path | None = None) -> None:
        """Before the run folder is made (a resume: before it trains): can the backend be used?"""

    @abstractmethod
    def on_experiment_start(self, orchestrator: TrackedRun) -> None:
        """Open the tracked run (or reopen it: ``run_id`` came back from the checkpoint)."""

    @abstractmethod
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Log one epoch's metrics (an epoch logged before a crash may come again on a resume)."""

    @abstractmethod
    def on_experiment_end(
        self, orchestrator: TrackedRun, status: str, error: BaseException | None = None
    ) -> None:
        """Send what is left and close the tracked run as ``status``."""
