"""TensorBoardTracker: the run's scalars, hparams and figures as TensorBoard event files in
``<run_dir>/tensorboard/``, so ``tensorboard --logdir results/`` shows every run."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from aiforge.tracking.isolation import guarded
from aiforge.tracking.run_values import epoch_metrics, final_metrics, flat_params, run_figures
from aiforge.tracking.step_tracker import StepTracker

if TYPE_CHECKING:
    from aiforge.tracking.tracker import TrackedRun


class TensorBoardTracker(StepTracker):
    """Writes through ``torch.utils.tensorboard.SummaryWriter`` (imported when the run starts).

    Every value's x axis is the optimizer step (``trainer.global_step``), as Lightning's: an
    epoch's metrics at the step it ended on. A resumed run opens its writer with
    ``purge_step`` one past the checkpoint's step, so TensorBoard drops what was logged after
    the checkpoint before the crash (it is logged again). At the end of a finished run: hparams
    (the flattened config) with the final metrics, and the run's PNG figures as images.
    """

    backend = "TensorBoard"

    def __init__(self, log_every_n_steps: int | None = None, lr_per_step: bool = False) -> None:
        super().__init__(log_every_n_steps, lr_per_step)
        self.writer: Any = None

    @guarded("opening the TensorBoard event files")
    def on_experiment_start(self, orchestrator: TrackedRun) -> None:
        from torch.utils.tensorboard import SummaryWriter

        from aiforge.runs import files as run_files

        run_dir = orchestrator.run_dir
        assert run_dir is not None
        position = self.checkpoint_position(orchestrator)
        purge_step = position[0] + 1 if position is not None else None
        log_dir = run_dir / run_files.TENSORBOARD_DIR
        run_files.refuse_linked_folder(log_dir)  # a run folder is data: never write out of it
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        self.steps.last_step = self.current_step()

    def log_step(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    @guarded("writing an epoch's scalars to TensorBoard")
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        step = self.current_step()
        for key, value in epoch_metrics(logs).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # before the epoch's checkpoint: a resume purges only what comes after it

    @guarded("writing TensorBoard's event files")
    def on_save_point(self) -> bool:
        self.writer.flush()  # the steps so far are on disk before a step checkpoint holds them
        return False

    def on_experiment_end(
        self, orchestrator: TrackedRun, status: str, error: BaseException | None = None
    ) -> None:
        """A finished run's hparams, final metrics and figures; then the files are closed."""
        if status == "FINISHED":
            self._log_results(orchestrator)
        if self.writer is not None:
            with contextlib.suppress(Exception):  # a writer that failed already: nothing more to lose
                self.writer.close()
            self.writer = None

    @guarded("writing the hparams and figures to TensorBoard")
    def _log_results(self, orchestrator: TrackedRun) -> None:
        from torch.utils.tensorboard.summary import hparams

        step = self.current_step()
        metrics = final_metrics(orchestrator.run_dir)
        writer = self.writer._get_file_writer()
        for summary in hparams(flat_params(orchestrator.config), metrics):
            writer.add_summary(summary)  # in this run's own folder, not a new one as add_hparams makes
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        for path in run_figures(orchestrator.run_dir):
            self.writer.add_image(f"figures/{path.stem}", _rgb(path), step, dataformats="HWC")
        self.writer.flush()


def _rgb(path: Any) -> Any:
    """A PNG as an RGB array (height, width, 3) of uint8."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
