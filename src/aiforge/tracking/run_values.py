"""What every tracker logs besides the epochs: the run's params (flattened config), its final
numbers, its figures, the per-step values' names, and when the LR is logged per optimizer step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiforge.config.model_configs import ExperimentConfig

STEP_LOSS = "step_train_loss"  # the per-step training loss: MLflow's name for it too
STEP_LR = "step_lr"  # the LR each optimizer step used (a scheduler stepping per step); epochs log "lr"


def flat_params(config: ExperimentConfig) -> dict[str, bool | int | float | str]:
    """The resolved config as ``config.yaml`` holds it, with dotted keys (:func:`flat_values`)."""
    from aiforge.runs.records import config_record

    return flat_values(config_record(config))


def flat_values(data: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (an empty mapping left out); values other than
    numbers, text and booleans (None, lists) as JSON text."""
    from aiforge.mappings import flatten

    params: dict[str, bool | int | float | str] = {}
    for key, value in flatten(data).items():
        if isinstance(value, dict):
            continue  # an empty mapping: nothing to log
        params[key] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return params


def final_metrics(run_dir: Path | None) -> dict[str, float]:
    """The numbers of ``final_results.json``: ``final_val_loss``, ``final_val_<metric>`` and, with a
    test split, ``test_loss`` and ``test_<metric>`` (empty when the run did not finish)."""
    from aiforge.runs import files as run_files

    if run_dir is None:
        return {}
    try:
        results = json.loads((run_dir / run_files.RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(results, dict):
        return {}
    metrics: dict[str, Any] = {"final_val_loss": results.get("final_val_loss")}
    metrics.update({f"final_val_{k}": v for k, v in (results.get("final_val_metrics") or {}).items()})
    metrics["test_loss"] = results.get("test_loss")
    metrics.update({f"test_{k}": v for k, v in (results.get("test_metrics") or {}).items()})
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {k: float(v) for k, v in numbers.items()}


def run_figures(run_dir: Path | None) -> list[Path]:
    """The PNG pictures the run's report drew into its folder (none before the run finished)."""
    return sorted(run_dir.glob("*.png")) if run_dir is not None and run_dir.is_dir() else []


def lr_per_step(config: ExperimentConfig) -> bool:
    """Whether the scheduler steps per optimizer step (``scheduler.interval: step``): the LR is then
    logged at every step, not only per epoch."""
    scheduler = config.training_config.scheduler
    return scheduler is not None and getattr(scheduler, "interval", "epoch") == "step"


def epoch_metrics(logs: dict[str, float]) -> dict[str, float]:
    """An epoch's logs as metrics: every key but ``epoch`` (the position, not a number to plot)."""
    return {key: float(value) for key, value in logs.items() if key != "epoch"}
