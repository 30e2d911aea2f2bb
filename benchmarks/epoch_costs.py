"""Where AIForge's per-epoch time goes, against the hand-written loop: parts timed inside a run.

    python benchmarks/epoch_costs.py [--repeats 4] [--epochs 60]

Runs digits in the ``--paired`` arrangement of ``training_overhead.py`` (AIForge lean on the
built-in slicing path, a hand-written epoch after each AIForge epoch) with timers around the
parts of AIForge's epoch that the hand-written loop has no twin for, or a cheaper one. Printed:
each part's median microseconds per call and per epoch, and the medians of the two loops' epochs
and validation passes. Timers cost a little themselves; the parts are measured on the cache state
a real run leaves, which for per-epoch code is cold (several times its cost in a tight loop).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from training_overhead import HandLoop, Options, PairedClock, aiforge_epochs, prepared, quiet

from aiforge.training.trainer import Trainer
from aiforge.utils.callbacks import MetricsHistory, ModelCheckpoint
from aiforge.utils.metrics import MetricSet

PARTS: dict[str, tuple[type, str]] = {
    "training pass (whole)": (Trainer, "train_epoch"),
    "  epoch mean loss + NaN check": (Trainer, "_epoch_mean_loss"),
    "validation pass (whole)": (Trainer, "evaluate"),
    "  metrics: buffer a batch": (MetricSet, "update"),
    "  metrics: compute (torchmetrics)": (MetricSet, "compute"),
    "checkpoint callback": (ModelCheckpoint, "on_epoch_end"),
    "  best weights' copy": (Trainer, "model_state"),
    "metrics.csv callback": (MetricsHistory, "on_epoch_end"),
}


class TrainingSpan(PairedClock):
    """The paired clock, which also marks training's span: calls after it (the final evaluation,
    the report) are not counted."""

    active = False

    def on_train_start(self, *args: Any) -> None:
        TrainingSpan.active = True
        super().on_train_start(*args)

    def on_train_end(self, *_: Any) -> None:
        TrainingSpan.active = False


def timed(function: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            if TrainingSpan.active:
                into.append(time.perf_counter() - start)

    return wrapper


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    if args.epochs < 3:
        parser.error("--epochs must be at least 3: the first epochs are dropped as warm-up")
    torch.set_num_threads(1)
    quiet()
    options = Options(epochs=args.epochs)
    data = prepared("digits", options)
    calls: dict[str, list[float]] = defaultdict(list)
    originals = {label: getattr(owner, name) for label, (owner, name) in PARTS.items()}
    for label, (owner, name) in PARTS.items():
        setattr(owner, name, timed(originals[label], calls[label]))
    aiforge: list[float] = []
    hand: list[float] = []
    hand_validation: list[float] = []
    try:
        for repeat in range(args.repeats):
            clock = TrainingSpan(HandLoop(data, False, options), options.now)
            aiforge += aiforge_epochs("digits", False, False, options, data, clock=clock)[2:]
            hand += clock.hand_times[2:]
            hand_validation += clock.hand.validation_times[2:]
            print(f"  repeat {repeat + 1}/{args.repeats} done", flush=True)
    finally:
        for label, (owner, name) in PARTS.items():
            setattr(owner, name, originals[label])
    epochs = args.epochs * args.repeats
    ms = {name: statistics.median(times) * 1e3 for name, times in (("aiforge", aiforge), ("hand", hand))}
    print(f"\nAIForge epoch {ms['aiforge']:.2f} ms, hand-written {ms['hand']:.2f} ms")
    print(f"hand-written validation pass {statistics.median(hand_validation) * 1e6:.0f} us\n")
    print(f"{'AIForge part':<36} {'calls/epoch':>11} {'us/call':>9} {'us/epoch':>9}")
    for label, times in calls.items():
        if times:
            per_call = statistics.median(times) * 1e6
            print(
                f"{label:<36} {len(times) / epochs:>11.1f} {per_call:>9.1f} {sum(times) / epochs * 1e6:>9.1f}"
            )


if __name__ == "__main__":
    main()
