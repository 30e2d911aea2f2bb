"""CSVTracker: a flat ``<run_dir>/csv/metrics.csv`` as Lightning's CSVLogger writes it: columns
``step``, ``epoch`` and one per metric; a row per optimizer step with values: the step values
(``step_train_loss``, ``step_lr``) and, at an epoch's last step, the epoch's metrics in the same
row. (The run's own ``metrics.csv``, one row per epoch, is MetricsHistory's and stays as it is.)"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.tracking.isolation import guarded
from aiforge.tracking.run_values import STEP_LOSS, STEP_LR, epoch_metrics
from aiforge.tracking.step_tracker import StepTracker

if TYPE_CHECKING:
    from aiforge.tracking.tracker import TrackedRun

EPOCH_ROW_KEY = "train_loss"  # only a row with an epoch's values has it
STEP_COLUMNS = ("step", "epoch", STEP_LOSS, STEP_LR)  # a row's part that is not an epoch's


class CSVTracker(StepTracker):
    """Rows wait in memory and are written at each epoch's end and save point (before a checkpoint
    holds them) and at the end: appended in one write each (a killed run leaves whole lines), the
    whole file rewritten atomically when a new column appears (or an epoch's values join a row
    already written). A resumed run first drops the rows past its checkpoint (steps after it,
    epochs it had not finished), which it logs again."""

    backend = "CSV"

    def __init__(self, log_every_n_steps: int | None = None, lr_per_step: bool = False) -> None:
        super().__init__(log_every_n_steps, lr_per_step)
        self.path: Path | None = None
        self._columns: list[str] | None = None  # the header of the file on disk
        self._pending: list[dict[str, Any]] = []
        self._last_row_step: int | None = None  # the step of the file's last row

    @guarded("opening the CSV file")
    def on_experiment_start(self, orchestrator: TrackedRun) -> None:
        from aiforge.runs import files as run_files

        assert orchestrator.run_dir is not None
        folder = orchestrator.run_dir / run_files.CSV_TRACKING_DIR
        run_files.refuse_linked_folder(folder)  # a run folder is data: never write out of it
        folder.mkdir(exist_ok=True)
        self.path = folder / run_files.CSV_TRACKING_FILE
        position = self.checkpoint_position(orchestrator)
        if position is not None and self.path.exists():
            self._keep_rows_up_to(*position)
        self.steps.last_step = self.current_step()

    def _keep_rows_up_to(self, step: int, epochs: int) -> None:
        """Drop the rows logged after the checkpoint at (``step``, ``epochs`` done)."""
        from aiforge.runs import files as run_files

        assert self.path is not None
        columns, rows = _read(self.path)
        kept = [kept for row in rows if (kept := _up_to(row, step, epochs))]
        run_files.write_text(self.path, _csv_text(columns, kept, header=True), durable=False)
        self._columns = columns
        self._last_row_step = int(float(kept[-1]["step"])) if kept else None

    def log_step(self, values: dict[str, float], step: int) -> None:
        epoch = int(self.trainer.epoch) + 1  # the epoch this step belongs to (1-based, as logs["epoch"])
        self._pending.append({"step": step, "epoch": epoch, **values})

    @guarded("writing an epoch's row to the CSV file")
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        row = {"step": self.current_step(), "epoch": int(logs.get("epoch", epoch + 1)), **epoch_metrics(logs)}
        self._pending.append(row)
        self._flush()

    @guarded("writing the CSV file")
    def on_save_point(self) -> bool:
        self._flush()
        return False

    @guarded("writing the CSV file")
    def on_experiment_end(
        self, orchestrator: TrackedRun, status: str, error: BaseException | None = None
    ) -> None:
        self._flush()

    def _flush(self) -> None:
        from aiforge.runs import files as run_files

        pending, self._pending = _merged(self._pending), []
        if not pending or self.path is None:
            return
        joins_last_row = pending[0]["step"] == self._last_row_step  # an epoch ending on a written step
        self._last_row_step = pending[-1]["step"]
        keys = list(dict.fromkeys(key for row in pending for key in row))
        if (
            self._columns is not None
            and set(keys) <= set(self._columns)
            and not joins_last_row
            and self.path.exists()
        ):
            run_files.append_text(self.path, _csv_text(self._columns, pending, header=False))
            return
        columns, rows = _read(self.path) if self.path.exists() else (["step", "epoch"], [])
        if joins_last_row and rows:
            rows[-1] = {**rows[-1], **pending.pop(0)}
        columns = list(dict.fromkeys([*columns, *keys]))
        run_files.write_text(self.path, _csv_text(columns, rows + pending, header=True), durable=False)
        self._columns = columns


def _merged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the same step as one (Lightning's CSVLogger does so): an epoch's values join the
    step values logged at its last optimizer step."""
    merged: list[dict[str, Any]] = []
    for row in rows:
        if merged and merged[-1]["step"] == row["step"]:
            merged[-1] = {**merged[-1], **row}
        else:
            merged.append(dict(row))
    return merged


def _up_to(row: dict[str, str], step: int, epochs: int) -> dict[str, str] | None:
    """What a resume keeps of ``row``: None past the checkpoint at (``step``, ``epochs`` done); the
    step values alone of a row whose epoch the checkpoint had not finished."""
    try:
        row_step, row_epoch = int(float(row["step"])), int(float(row["epoch"]))
    except (KeyError, TypeError, ValueError):
        return None  # a line cut short by the crash
    if row_step > step:
        return None
    if not (row.get(EPOCH_ROW_KEY) and row_epoch > epochs):
        return row
    steps_only = {key: value for key, value in row.items() if key in STEP_COLUMNS}
    return steps_only if steps_only.get(STEP_LOSS) or steps_only.get(STEP_LR) else None


def _read(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The file's header and rows; a link is refused, never followed (a run folder is data)."""
    import os

    from aiforge.runs import files as run_files

    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        if path.is_symlink():
            raise run_files.linked_file_error(
                path, "AIForge does not read run files through links", "Replace it with a real file"
            ) from None
        raise
    with open(descriptor, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or ["step", "epoch"]), rows


def _csv_text(columns: list[str], rows: list[dict[str, Any]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
