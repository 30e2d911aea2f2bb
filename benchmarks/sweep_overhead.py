"""The per-trial bookkeeping cost of a sweep: the same tiny trials as plain runs and as a sweep.

    python benchmarks/sweep_overhead.py [--trials 8] [--repeats 3] [--epochs 2] [--json PATH]

Each repeat runs the same ``--trials`` configurations of a tiny experiment (the built-in
simple_nn model and synthetic set, 200 rows x 8 features, MLP 8-16-2, batch 32) two ways, in
alternating order:

  plain  a loop of ordinary AIForge runs through the Python API (``Orchestrator(config)``),
         one per configuration
  sweep  ``aiforge.sweeps.Sweep`` over the same experiment, the learning rate searched in the
         same range (1e-3 to 1e-1, log scale; the default TPE sampler, which samples at random
         for the first 10 trials), one worker, the default storage (a journal file in the sweep
         folder)

A trial's cost does not depend on its learning rate (a fixed number of epochs, no early stop),
so the two ways train the same amount; only the values differ.

Both with tracking off, on the CPU, one torch thread, in a fresh results folder each time. The
difference is what a sweep adds around its runs: checking the search space (a config built per
choice), opening the study, asking and telling Optuna, writing the journal, trials.csv and
sweep_results.json after each trial, and validating each trial's config. Printed: the seconds
per trial of each way (median over the repeats, and the spread: max - min), the extra seconds
per trial (the sweep's one-off start spread over its trials) and the ratio sweep / plain, each
the median over the repeats of that repeat's value. A warm-up of both ways (imports, first
allocations) runs first and is not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aiforge.config.loading import build_experiment_config
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.sweeps import Sweep
from aiforge.sweeps.space import apply_params

KEY = "training_config.learning_rate"
LOW, HIGH = 1e-3, 1e-1


def base_config(epochs: int) -> dict[str, Any]:
    """The tiny experiment every trial runs (as a config file's data)."""
    return {
        "experiment_name": "bench_sweep",
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": 200, "input_dim": 8, "seed": 0},
        "model_config": {"hidden_dim": 16},
        "training_config": {"epochs": epochs, "batch_size": 32, "learning_rate": 0.01},
        "metrics": ["accuracy"],
        "seed": 0,
    }


def learning_rates(trials: int) -> list[float]:
    """``trials`` learning rates for the plain runs, evenly spaced on a log scale over the sweep's
    range."""
    if trials == 1:
        return [LOW]
    return [LOW * (HIGH / LOW) ** (i / (trials - 1)) for i in range(trials)]


def settings_in(folder: str) -> AppSettings:
    return AppSettings(RESULTS_DIR=Path(folder), DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")


def plain_runs(base: dict[str, Any], rates: list[float]) -> float:
    """Seconds for one ordinary run per learning rate, in a loop."""
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_in(folder)
        start = time.perf_counter()
        for rate in rates:
            config = build_experiment_config(apply_params(base, {KEY: rate}), source="benchmark")
            Orchestrator(config, settings=settings).run_experiment()
        return time.perf_counter() - start


def sweep_runs(base: dict[str, Any], rates: list[float]) -> float:
    """Seconds for a sweep of as many trials over the same learning-rate range."""
    sweep = {
        "metric": "accuracy",
        "trials": len(rates),
        "space": {KEY: {"type": "float", "low": LOW, "high": HIGH, "log": True}},
    }
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        record = Sweep(base, sweep, settings=settings_in(folder)).run()
        seconds = time.perf_counter() - start
    finished = record["trials_complete"] + record["trials_pruned"]
    assert finished == len(rates), f"the sweep finished {finished} of {len(rates)} trials"
    return seconds


def measure(ways: dict[str, Callable[[], float]], trials: int, repeats: int) -> dict[str, Any]:
    """Seconds per trial of each way per repeat (the ways take turns, in alternating order, so a
    busy spell of a shared machine slows both alike); medians, spreads, extra and ratio."""
    per_trial: dict[str, list[float]] = {key: [] for key in ways}
    for repeat in range(repeats):
        order = list(ways) if repeat % 2 == 0 else list(reversed(ways))
        for key in order:
            per_trial[key].append(ways[key]() / trials)
        print(f"  repeat {repeat + 1}/{repeats} done", flush=True)
    plain, sweep = per_trial["plain"], per_trial["sweep"]
    extras = [s - p for s, p in zip(sweep, plain, strict=True)]
    ratios = [s / p for s, p in zip(sweep, plain, strict=True)]
    result: dict[str, Any] = {
        key: {
            "median_s_per_trial": statistics.median(values),
            "spread_s": max(values) - min(values),
            "repeats_s_per_trial": values,
        }
        for key, values in per_trial.items()
    }
    result["extra_s_per_trial"] = {
        "median": statistics.median(extras),
        "spread": max(extras) - min(extras),
        "repeats": extras,
    }
    result["ratio"] = {"median": statistics.median(ratios), "spread": max(ratios) - min(ratios)}
    return result


def report(result: dict[str, Any]) -> None:
    for key, label in (("plain", "plain runs (Python API loop)"), ("sweep", "aiforge.sweeps.Sweep")):
        column = result[key]
        print(
            f"  {label:<32} {column['median_s_per_trial']:8.3f} s/trial   spread {column['spread_s']:6.3f} s"
        )
    extra, ratio = result["extra_s_per_trial"], result["ratio"]
    label = "sweep bookkeeping per trial"
    print(f"  {label:<32} {extra['median']:8.3f} s         spread {extra['spread']:6.3f} s")
    print(f"  {'sweep / plain':<32} {ratio['median']:8.3f}           spread {ratio['spread']:6.3f}")


def quiet() -> None:
    """Only the benchmark's own lines: AIForge's and Optuna's logs and warnings off."""
    warnings.filterwarnings("ignore")
    logging.getLogger("aiforge").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials (runs) per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every trial")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the medians, spreads and ratio here")
    args = parser.parse_args(argv)
    for name in ("trials", "repeats", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    torch.set_num_threads(1)
    quiet()
    base, rates = base_config(args.epochs), learning_rates(args.trials)
    print(f"torch {torch.__version__}, 1 thread; {args.trials} trials x {args.repeats} repeats", end="")
    print(f", {args.epochs} epochs")
    plain_runs(base, rates[:1])  # warm-up: imports (Optuna too), first allocations
    sweep_runs(base, rates[:2])
    ways = {"plain": lambda: plain_runs(base, rates), "sweep": lambda: sweep_runs(base, rates)}
    result = measure(ways, args.trials, args.repeats)
    report(result)
    if args.json:
        record = {"trials": args.trials, "repeats": args.repeats, "epochs": args.epochs, **result}
        record["torch"] = torch.__version__
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
