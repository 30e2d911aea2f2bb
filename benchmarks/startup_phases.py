"""Where one ``aiforge run`` spends its wall time: timers around the phases of a real run.

    python benchmarks/startup_phases.py --json PATH -- run [aiforge run's arguments]

Runs the ``aiforge`` command in this process with timers wrapped around the Orchestrator's and
the Trainer's phases (the code itself is unchanged), then writes the seconds per phase as JSON:
``config`` (importing AIForge and torch, reading and validating the config, resolving plugins,
opening trackers), ``data``, ``model`` (model, loss and optimizer; torch.optim imports
torch._dynamo on first use), ``metrics_setup`` (torchmetrics), ``run_other`` (run folder, records,
callbacks),
``first_epoch`` / ``other_epochs``, ``finish`` (final evaluation, files, report), ``tracking_end``
(the trackers' end of run: MLflow's model and artifacts), and ``total``.
benchmarks/startup.py runs it in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def timed(cls: type, name: str, phase: str, seconds: dict[str, float]) -> None:
    """Wrap ``cls.name`` so that its wall time adds to ``seconds[phase]``."""
    original = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[phase] += time.perf_counter() - start

    setattr(cls, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, metavar="PATH")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the aiforge arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    seconds: dict[str, float] = defaultdict(float)
    command_start = time.perf_counter()
    from aiforge.cli import main as aiforge_main
    from aiforge.core.orchestrator import Orchestrator
    from aiforge.training.trainer import Trainer

    for name, phase in [
        ("prepare_data", "data"),
        ("build_model", "model"),
        ("_metric_set", "metrics_setup"),
        ("finish", "finish"),
        ("_end_experiment", "tracking_end"),
    ]:
        timed(Orchestrator, name, phase, seconds)
    epochs: list[float] = []
    original_epoch = Trainer._run_epoch

    def run_epoch(self: Any, *epoch_args: Any) -> Any:
        start = time.perf_counter()
        try:
            return original_epoch(self, *epoch_args)
        finally:
            epochs.append(time.perf_counter() - start)

    Trainer._run_epoch = run_epoch  # type: ignore[method-assign]
    timed(Orchestrator, "_run_experiment", "run", seconds)
    code = aiforge_main(command)
    seconds["total"] = time.perf_counter() - command_start
    seconds["first_epoch"] = epochs[0] if epochs else 0.0
    seconds["other_epochs"] = sum(epochs[1:])
    # Before the run: config, plugins, trackers; inside it, what no other phase covers
    # (run folder, records, callbacks, metrics set-up).
    inner = ("data", "model", "metrics_setup", "first_epoch", "other_epochs", "finish", "tracking_end")
    seconds["config"] = time.perf_counter() - command_start - seconds["run"]
    seconds["run_other"] = seconds.pop("run") - sum(seconds[key] for key in inner)
    args.json.write_text(json.dumps(dict(seconds), indent=2) + "\n", encoding="utf-8")
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
