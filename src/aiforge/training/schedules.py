"""LR schedules as a run steps them: per epoch or per optimizer step, after an optional linear
warmup, and sized from the run's real number of steps, which the config alone cannot know.

A run of ``epochs`` epochs steps its scheduler ``epochs`` times per epoch interval, and
``epochs x ceil(batches per epoch / gradient_accumulation_steps)`` times per step interval (the
last partial accumulation group of an epoch is a step too; under torchrun, ``batches per epoch``
is this process's share). Schedulers that need that length and were not given one get it:
OneCycleLR's ``total_steps``, CosineAnnealingLR's ``T_max``, and, per step, LinearLR's and
PolynomialLR's ``total_iters`` (per epoch they keep torch's default, as runs before did). A
warmup takes its length off the main schedule's.
"""

from __future__ import annotations

import math
from typing import Any

from aiforge.errors import ConfigError
from aiforge.training.builders import build_scheduler, scheduler_class


def schedule_problem(
    name: str, interval: str, warmup_steps: int | None, warmup_ratio: float | None
) -> str | None:
    """Why these scheduler settings cannot work together (None: they can)."""
    if warmup_steps is not None and warmup_ratio is not None:
        return "give warmup_steps or warmup_ratio, not both"
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    try:
        cls = scheduler_class(name)
    except ValueError:
        return None  # the name's own check reports it
    if issubclass(cls, ReduceLROnPlateau):
        if interval == "step":
            return (
                f"{cls.__name__} steps on a validation metric, which exists once per epoch: use "
                "interval: epoch (the default), or a scheduler that steps per optimizer step"
            )
        if warmup_steps or warmup_ratio:
            return (
                f"{cls.__name__} cannot follow a warmup (torch's SequentialLR cannot pass it the "
                "monitored metric): remove warmup_steps/warmup_ratio, or pick another scheduler"
            )
    return None


def optimizer_steps_per_epoch(batches: int, accumulation: int) -> int:
    """Optimizer steps in an epoch of ``batches`` batches: the last partial group steps too."""
    return math.ceil(batches / accumulation)


def schedule_length(
    interval: str, epochs: int, batches_per_epoch: int | None, accumulation: int
) -> int | None:
    """How many times the run steps its scheduler (None: per step, with batches of unknown count)."""
    if interval == "epoch":
        return epochs
    if batches_per_epoch is None:
        return None
    return epochs * optimizer_steps_per_epoch(batches_per_epoch, accumulation)


def warmup_length(warmup_steps: int | None, warmup_ratio: float | None, length: int | None) -> int:
    """The warmup in intervals; a ratio is rounded up (as HF Trainer does), so any ratio > 0 warms up."""
    if warmup_steps is not None:
        return warmup_steps
    if not warmup_ratio:
        return 0
    if length is None:
        raise ConfigError(
            "training_config.scheduler.warmup_ratio: the number of optimizer steps is unknown (the "
            "training batches have no length); give warmup_steps instead"
        )
    return math.ceil(round(warmup_ratio * length, 9))  # 0.1 x 30 is 3.0000000000000004 in floats


def _missing_sizes(cls: type, args: dict[str, Any], interval: str) -> list[str]:
    """The arguments of ``cls`` that take the schedule's length and are not in ``args``."""
    from torch.optim import lr_scheduler as schedulers

    if issubclass(cls, schedulers.OneCycleLR):
        given = "total_steps" in args or "epochs" in args or "steps_per_epoch" in args
        return [] if given else ["total_steps"]
    if issubclass(cls, schedulers.CosineAnnealingLR):
        return [] if "T_max" in args else ["T_max"]
    if interval == "step" and issubclass(cls, (schedulers.LinearLR, schedulers.PolynomialLR)):
        return [] if "total_iters" in args else ["total_iters"]
    return []


def build_schedule(
    optimizer: Any,
    scheduler: Any,
    epochs: int,
    batches_per_epoch: int | None,
    accumulation: int,
    monitor_mode: str,
) -> Any:
    """The scheduler of ``scheduler`` (a SchedulerConfig), sized and after its warmup.

    ``batches_per_epoch``: the training batches one epoch gives this process (None: unknown).
    torch's own TypeError/ValueError for bad arguments passes through, for the caller to name.
    """
    from torch.optim.lr_scheduler import LinearLR, SequentialLR

    length = schedule_length(scheduler.interval, epochs, batches_per_epoch, accumulation)
    warmup = warmup_length(scheduler.warmup_steps, scheduler.warmup_ratio, length)
    args = dict(scheduler.args)
    missing = _missing_sizes(scheduler_class(scheduler.name), args, scheduler.interval)
    if missing and length is None:
        raise ConfigError(
            f"training_config.scheduler: {scheduler.name} per step needs its length, and the number of "
            "training batches per epoch is unknown (the batches have no length); give "
            f"args.{missing[0]} (in optimizer steps)"
        )
    if missing and length is not None:
        if warmup >= length:
            raise ConfigError(
                f"training_config.scheduler: the warmup ({warmup} {scheduler.interval}s) leaves none of "
                f"the run's {length} {scheduler.interval}s to {scheduler.name}; shorten the warmup"
            )
        args.update(dict.fromkeys(missing, length - warmup))
    main = build_scheduler(optimizer, scheduler.name, args, monitor_mode)
    if not warmup:
        return main
    # Step s (0-based) of the warmup uses (s + 1) / (warmup + 1) of the LR; step `warmup` starts `main`.
    ramp = LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def sized_length(batches: Any) -> int | None:
    """How many batches ``batches`` gives per epoch (None when it has no length)."""
    return len(batches) if hasattr(batches, "__len__") else None
