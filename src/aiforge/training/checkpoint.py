"""The checkpoint format, in one place: its version and keys, the loop's progress
(:class:`TrainingProgress`), the functions that build a full training state and restore one, the
run's own entries (its config, every rank's generators), and the reading of a run's newest
checkpoint for a resume.

``last.pt`` (format 1) holds ``format``, ``model``, ``optimizer``, the progress (``epoch``,
``global_step``, ``history``, ``epoch_progress``, ``data_order``), ``rng``, ``grad_scaler``,
``callbacks`` (each callback's state under its class name), and what the run adds: ``config``
(the resolved config as JSON, which a resume checks against) and, under torchrun,
``rng_by_rank``. ``best.pt`` holds ``model``, ``epoch`` and the monitored value under its name
(:func:`best_state`, :func:`read_best_state`). The files' names are in runs/files.py
(``LAST_CHECKPOINT``, ``PREVIOUS_CHECKPOINT``, ``BEST_CHECKPOINT``, ``CHECKPOINT_NAMES``), beside the
run folder's other names: runs/ sits below this module and looks for a checkpoint by name.
torch is imported where it is used: ``aiforge.utils.callbacks`` imports this module and must stay
light to import.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiforge.errors import DataError
from aiforge.runs import files as run_files
from aiforge.runs.resume import (
    check_run_records,
    check_same_config,
    check_same_preprocessor,
    first_line,
    remove_stale_temp_files,
)
from aiforge.runtime.distributed import broadcast_object, is_main_process
from aiforge.runtime.log import logger

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1  # the layout below; bump it when the layout changes (older ones are then refused)

# The keys of a checkpoint.
FORMAT = "format"
MODEL = "model"
OPTIMIZER = "optimizer"
EPOCH = "epoch"
GLOBAL_STEP = "global_step"
HISTORY = "history"
EPOCH_PROGRESS = "epoch_progress"
DATA_ORDER = "data_order"
RNG = "rng"
RNG_BY_RANK = "rng_by_rank"  # read by runtime.seeding.own_rng_states
GRAD_SCALER = "grad_scaler"
CALLBACKS = "callbacks"
CONFIG = "config"
REQUIRED_KEYS = (FORMAT, MODEL, OPTIMIZER, EPOCH, GLOBAL_STEP, HISTORY, CALLBACKS, CONFIG)


class Stateful(Protocol):
    """What a checkpoint keeps of an object: a callback, a precision's grad scaler."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


@dataclass
class TrainingProgress:
    """Where the loop stands, all it needs to continue exactly: epochs and optimizer steps done,
    the history, and the part of the current epoch done (its batches, their losses and sizes, its
    first optimizer step and its data order)."""

    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken
    history: list[dict[str, float]] = field(default_factory=list)
    batches_done: int = 0  # in the current epoch
    epoch_losses: list[torch.Tensor] = field(default_factory=list)  # per batch, on the device: no sync
    epoch_sizes: list[int] = field(default_factory=list)
    epoch_start_step: int = 0
    data_order: Any = None  # fixes the current epoch's shuffle

    def start_epoch(self, data_order: Any) -> None:
        """A new epoch: nothing of it done yet."""
        self.batches_done = 0
        self.epoch_losses = []
        self.epoch_sizes = []
        self.epoch_start_step = self.global_step
        self.data_order = data_order

    def state_dict(self) -> dict[str, Any]:
        """The progress entries of a checkpoint (losses as one CPU tensor)."""
        import torch

        losses = torch.stack(self.epoch_losses).cpu() if self.epoch_losses else torch.zeros(0)
        return {
            EPOCH: self.epoch,
            GLOBAL_STEP: self.global_step,
            HISTORY: [dict(row) for row in self.history],
            EPOCH_PROGRESS: {
                "batches_done": self.batches_done,
                "losses": losses,
                "sizes": list(self.epoch_sizes),
                "start_step": self.epoch_start_step,
            },
            DATA_ORDER: self.data_order,
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        """Back to a checkpoint's progress; the epoch's losses go to ``device`` when given."""
        self.epoch = int(state[EPOCH])
        self.global_step = int(state[GLOBAL_STEP])
        self.history = [dict(row) for row in state[HISTORY]]
        progress = state[EPOCH_PROGRESS]
        self.batches_done = int(progress["batches_done"])
        self.epoch_losses = [loss if device is None else loss.to(device) for loss in progress["losses"]]
        self.epoch_sizes = list(progress["sizes"])
        self.epoch_start_step = int(progress["start_step"])
        self.data_order = state[DATA_ORDER]


def training_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: TrainingProgress,
    grad_scaler: Stateful,
    callbacks: list[Stateful],
) -> dict[str, Any]:
    """Everything needed to continue training exactly from here: copies that stay as they were
    while training goes on (a caller may keep the state in memory)."""
    from aiforge.runtime.seeding import rng_states

    return {
        FORMAT: FORMAT_VERSION,
        MODEL: model_state(model),
        OPTIMIZER: snapshot(optimizer.state_dict()),
        **progress.state_dict(),
        RNG: rng_states(),
        GRAD_SCALER: grad_scaler.state_dict(),
        CALLBACKS: copy.deepcopy(callback_states(callbacks)),
    }


def restore_training_state(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: TrainingProgress,
    grad_scaler: Stateful,
    callbacks: list[Stateful],
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Load :func:`training_state`'s ``state`` into these objects; returns this process's
    generator states, to restore just before the next batch (after a resumed epoch's skipped
    batches, which a dataset may draw random numbers for)."""
    from aiforge.runtime.seeding import own_rng_states
    from aiforge.training.optimizer_kernels import keep_kernels_usable

    model.load_state_dict(state[MODEL])
    optimizer.load_state_dict(state[OPTIMIZER])
    keep_kernels_usable(optimizer)
    progress.load_state_dict(state, device)
    rng = own_rng_states(state)
    grad_scaler.load_state_dict(state.get(GRAD_SCALER))
    load_callback_states(callbacks, state[CALLBACKS])
    return rng


# -- what the run adds to each checkpoint ---------------------------------------------------------
def config_entry(config_record: dict[str, Any]) -> dict[str, str]:
    """The run's resolved config, stored with each checkpoint: a resume checks against it."""
    return {CONFIG: json.dumps(config_record)}


def every_rank_rng_entry() -> dict[str, Any]:
    """Each process's generator states under torchrun (a collective: every rank calls it at the
    same point); nothing in a single process, where ``rng`` is the whole record."""
    from aiforge.runtime.seeding import every_rank_rng_states

    states = every_rank_rng_states()
    return {} if states is None else {RNG_BY_RANK: states}


def describe(state: dict[str, Any]) -> str:
    """Where a checkpoint stands, for the log."""
    return (
        f"{state[EPOCH]} epoch(s) and {state[EPOCH_PROGRESS]['batches_done']} batch(es) of the next "
        f"done, optimizer step {state[GLOBAL_STEP]}"
    )


# -- best.pt: the best weights, kept apart from the full states ----------------------------------
def best_state(weights: dict[str, Any], epoch: int, monitor: str, value: float) -> dict[str, Any]:
    """``best.pt``'s content: the weights (``model``), the 1-based ``epoch`` they come from and the
    monitored value under the monitor's name."""
    return {MODEL: weights, EPOCH: epoch, monitor: value}


def read_best_state(path: Path) -> tuple[Any, dict[str, Any]]:
    """The epoch (None when not recorded) and the weights of a :func:`best_state` file."""
    saved = run_files.load_state(path)
    return saved.get(EPOCH), saved[MODEL]


# -- copies and callbacks' states -----------------------------------------------------------------
def model_state(model: torch.nn.Module) -> dict[str, Any]:
    """A copy in CPU memory: a best state kept for later never holds GPU memory."""
    return {key: cpu_copy(value) for key, value in model.state_dict().items()}


def snapshot(value: Any) -> Any:
    """A copy of nested dicts, lists and tensors (a fraction of ``copy.deepcopy``'s time)."""
    import torch

    if isinstance(value, torch.Tensor):
        return cpu_copy(value)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(snapshot(item) for item in value)
    return copy.deepcopy(value)


def cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)


def _callback_keys(callbacks: list[Stateful]) -> list[str]:
    """A key per callback: its class name (``Name#1`` for a second of one class)."""
    keys: list[str] = []
    for callback in callbacks:
        name = type(callback).__name__
        count = sum(1 for key in keys if key.split("#")[0] == name)
        keys.append(f"{name}#{count}" if count else name)
    return keys


def callback_states(callbacks: list[Stateful]) -> dict[str, dict[str, Any]]:
    return {key: cb.state_dict() for key, cb in zip(_callback_keys(callbacks), callbacks, strict=True)}


def load_callback_states(callbacks: list[Stateful], states: dict[str, dict[str, Any]]) -> None:
    """Give each callback its saved state; a callback new since the checkpoint starts fresh."""
    for key, callback in zip(_callback_keys(callbacks), callbacks, strict=True):
        if key in states:
            callback.load_state_dict(states[key])
        else:
            logger.warning(f"The checkpoint has no state for callback {key}; it starts fresh")


# -- reading a run's checkpoint for a resume ------------------------------------------------------
def format_problem(state: Any) -> str | None:
    """Why ``state`` is not a checkpoint this AIForge can continue from; None when it is."""
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        return f"not a full training checkpoint (missing {', '.join(missing)})"
    if state[FORMAT] != FORMAT_VERSION:
        return f"written in checkpoint format {state[FORMAT]}, this AIForge reads {FORMAT_VERSION}"
    return None


def load_latest_checkpoint(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """The newest checkpoint that loads safely and is complete; a damaged one is reported and skipped.

    Never falls back to unsafe (pickle) loading and never silently starts from scratch.
    """
    directory = run_dir / run_files.CHECKPOINT_DIR
    problems: list[str] = []
    for name in run_files.CHECKPOINT_NAMES:
        path = directory / name
        if not path.exists():
            continue
        try:
            state = run_files.load_state(path)
        except Exception as err:  # truncated, corrupt, or holding objects weights_only refuses
            problems.append(f"{name}: cannot be loaded ({type(err).__name__}: {first_line(err)})")
            logger.warning(f"Checkpoint {path} is damaged and is skipped: {problems[-1]}")
            continue
        problem = format_problem(state)
        if problem is not None:
            problems.append(f"{name}: {problem}")
            logger.warning(f"Checkpoint {path} is skipped: {problems[-1]}")
            continue
        return state, path
    if not problems:
        raise DataError(
            f"{run_dir} has no checkpoint to resume from yet (the run stopped before its first "
            "checkpoint); start it again as a new run"
        )
    raise DataError(f"no usable checkpoint in {directory}:\n" + "\n".join(f"  {p}" for p in problems))


def load_resume_state(
    run_dir: Path, config: dict[str, Any], preprocessor: Any, labels: dict[str, Any] | None
) -> dict[str, Any]:
    """The checkpoint state to continue from: rank 0 checks the run's records (``labels``: the
    label record the run writes for the data as it is now, None when it writes none), the
    resolved ``config`` and the refitted ``preprocessor`` against it, and reads it; under
    torchrun every rank gets that state."""
    loaded: tuple[dict[str, Any], Path] | None = None
    if is_main_process():
        check_run_records(run_dir, preprocessor is not None, labels)  # as save_records wrote
        remove_stale_temp_files(run_dir)
        loaded = load_latest_checkpoint(run_dir)
        check_same_config(loaded[0][CONFIG], config, run_dir)
        check_same_preprocessor(run_dir / run_files.PREPROCESSOR_FILE, preprocessor)
    loaded = broadcast_object(loaded)
    assert loaded is not None
    state, path = loaded
    logger.info(f"Resuming from {path.name}: {describe(state)}")
    return state
