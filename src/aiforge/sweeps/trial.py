"""One trial: an ordinary AIForge run of the base config with the trial's values (its own run folder,
resumable, tracked), reporting its per-epoch metric to the pruner."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any

from aiforge.config.settings import AppSettings
from aiforge.runs import files as run_files
from aiforge.sweeps.space import trial_config
from aiforge.utils.callbacks import Callback

RESUME_ATTR = "resume_from"  # a re-queued trial's run folder, continued from its checkpoint


class TrialReporter(Callback):
    """Records the run folder on the trial when the run starts, and feeds the pruner each epoch."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.pruned = False

    def on_experiment_start(self, orchestrator: Any) -> None:
        self.trial.set_user_attr("run_dir", str(orchestrator.run_dir))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, int(logs.get("epoch", epoch + 1)))
        if self.trial.should_prune():
            self.pruned = True
            self.stop_training = True


def process_identity() -> dict[str, Any]:
    """This process as a stale-trial check finds it again: host, pid and the pid's start time."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken
    for the worker; None where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name in parentheses


def process_alive(identity: dict[str, Any]) -> bool:
    """Whether the recorded worker still runs (True for another host: it cannot be checked here)."""
    if identity.get("host") != socket.gethostname():
        return True
    pid = int(identity.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = identity.get("started")
    return started is None or process_start(pid) == started


def run_trial(
    trial: Any,
    base: dict[str, Any],
    metric: str,
    settings: AppSettings,
    source: str,
    parent_run_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run the trial's experiment; its final results and whether the pruner stopped it.

    ``parent_run_id``: the sweep's tracked run; the trial's run is tracked as its child (a resumed
    trial reopens its own tracked run, a child already).

    A re-queued trial (``resume_from`` set) continues its run folder from the checkpoint when it has
    one; a folder with final results is read back, not run again.
    """
    from aiforge.core.orchestrator import Orchestrator

    reporter = TrialReporter(trial, metric)
    trial.set_user_attr("worker", process_identity())
    resume = trial.user_attrs.get(RESUME_ATTR)
    if resume and (Path(resume) / run_files.RESULTS_FILE).is_file():
        trial.set_user_attr("run_dir", resume)
        return json.loads((Path(resume) / run_files.RESULTS_FILE).read_text()), False
    # The sweep's own config, also for a resumed trial: the folder's config.yaml is data (it
    # must match this one, which the resume checks), and this one's class paths were trusted.
    config = trial_config(base, trial.params, f"{source} (trial {trial.number})", settings.PLUGINS_DIR)
    if resume and _has_checkpoint(Path(resume)):
        trial.set_user_attr("run_dir", resume)
        orchestrator = Orchestrator(config, settings=settings, callbacks=[reporter], resume_from=resume)
    else:
        orchestrator = Orchestrator(config, settings=settings, callbacks=[reporter])
    if parent_run_id is not None:
        for tracker in orchestrator.trackers:  # a backend without nested runs ignores it
            tracker.parent_run_id = parent_run_id
    results = orchestrator.run_experiment()
    return results, reporter.pruned


def _has_checkpoint(run_dir: Path) -> bool:
    folder = run_dir / run_files.CHECKPOINT_DIR
    return any((folder / name).is_file() for name in run_files.CHECKPOINT_NAMES)


def metric_value(results: dict[str, Any], metric: str) -> float | None:
    """The run's final validation value of ``metric`` (the best model's), or None."""
    if metric == "val_loss":
        value = results.get("final_val_loss")
    else:
        value = (results.get("final_val_metrics") or {}).get(metric.removeprefix("val_"))
    return float(value) if isinstance(value, int | float) else None


def result_attrs(results: dict[str, Any]) -> dict[str, Any]:
    """The run's final metrics to keep on the trial: validation, and test where the run has them."""
    attrs: dict[str, Any] = {
        "val_loss": results.get("final_val_loss"),
        "val_metrics": results.get("final_val_metrics") or {},
    }
    if "test_loss" in results:
        attrs["test_loss"] = results["test_loss"]
    if "test_metrics" in results:
        attrs["test_metrics"] = results["test_metrics"]
    return attrs
