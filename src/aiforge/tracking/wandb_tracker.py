"""WandbTracker: one AIForge run is one Weights & Biases run (``wandb`` imported when it starts;
a run that chose it without the package installed fails before it starts, see ``trackers_for``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.tracking.isolation import guarded
from aiforge.tracking.run_values import epoch_metrics, final_metrics, flat_params
from aiforge.tracking.step_tracker import StepTracker

if TYPE_CHECKING:
    from pathlib import Path

    from aiforge.tracking.tracker import TrackedRun

EXIT_CODES = {"FINISHED": 0, "FAILED": 1, "KILLED": 130}


class WandbTracker(StepTracker):
    """``wandb.init`` with its files in ``<run_dir>/wandb/``, the flattened config as its config,
    ``project`` = the experiment; metrics per epoch (and step) at ``step`` = the optimizer step; the
    final metrics as its summary; ``finish`` with the run's status as exit code. The run's id is
    kept in each checkpoint, so a resume continues the same W&B run (``resume="allow"``).
    ``WANDB_MODE=offline`` works as W&B documents (``wandb sync`` later)."""

    backend = "W&B"

    def __init__(
        self,
        project: str,
        run_name: str | None = None,
        log_every_n_steps: int | None = None,
        lr_per_step: bool = False,
    ) -> None:
        super().__init__(log_every_n_steps, lr_per_step)
        self.project = project
        self.run_name = run_name
        self.run: Any = None
        self.mode: str | None = None  # "offline" when check_store found the server unreachable

    def check_store(self, run_dir: Path | None = None) -> None:
        """Online W&B without an API key is a ConfigError now (``wandb.init`` would ask for one at
        a terminal and wait); a server that does not answer makes this run track W&B offline,
        with a warning, instead of ``wandb.init`` retrying for minutes."""
        from aiforge.runtime.log import logger
        from aiforge.tracking.wandb_store import online_problem

        problem = online_problem()
        if problem is not None:
            self.mode = "offline"
            logger.warning(
                f"{problem}; this run tracks W&B offline in its folder's wandb/ "
                "(`wandb sync <run_dir>/wandb/offline-run-*` later; WANDB_MODE=offline skips this check)"
            )

    @guarded("starting the W&B run")
    def on_experiment_start(self, orchestrator: TrackedRun) -> None:
        import wandb

        from aiforge.runs import files as run_files

        run_dir = orchestrator.run_dir
        assert run_dir is not None
        run_files.refuse_linked_folder(run_dir / run_files.WANDB_DIR)  # never write out of the run
        (run_dir / run_files.WANDB_DIR).mkdir(exist_ok=True)
        self.run = wandb.init(
            dir=str(run_dir),
            project=self.project,
            name=self.run_name or run_dir.name,
            id=self.run_id,  # None: a new run; from the checkpoint: the same run again
            resume="allow",
            mode=self.mode,  # None: W&B's own choice (WANDB_MODE, `wandb offline`)
            config=flat_params(orchestrator.config),
            settings=wandb.Settings(console="off"),  # the run's own log keeps the console output
        )
        self.run_id = self.run.id
        self.steps.last_step = self.current_step()

    def log_step(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    @guarded("logging an epoch's metrics to W&B")
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        metrics = {**epoch_metrics(logs), "epoch": int(logs.get("epoch", epoch + 1))}
        self.run.log(metrics, step=self.current_step())

    def on_experiment_end(
        self, orchestrator: TrackedRun, status: str, error: BaseException | None = None
    ) -> None:
        if self.run is None:
            return
        if status == "FINISHED":
            self._summarise(orchestrator)
        self._finish(status)
        self.run = None

    @guarded("writing the W&B run's summary")
    def _summarise(self, orchestrator: TrackedRun) -> None:
        self.run.summary.update(final_metrics(orchestrator.run_dir))

    def _finish(self, status: str) -> None:
        try:
            self.run.finish(exit_code=EXIT_CODES.get(status, 1))
        except Exception as err:
            if self.active:
                self.stop_tracking("finishing the W&B run", err)

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A resumed run continues the same W&B run."""
        self.run_id = state.get("run_id") or self.run_id
