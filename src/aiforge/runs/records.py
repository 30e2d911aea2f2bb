"""What a run writes about itself: resolved config, labels, environment, preprocessor, results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aiforge.runs import files as run_files
from aiforge.runs.environment import environment_record
from aiforge.runs.labels import labels_record
from aiforge.runtime.distributed import is_main_process

if TYPE_CHECKING:
    from aiforge.core.orchestrator import Orchestrator


def config_record(orchestrator: Orchestrator) -> dict[str, Any]:
    """The resolved config as plain data: what ``config.yaml`` and every checkpoint hold."""
    return orchestrator.config.model_dump(mode="json", by_alias=True)


def save_records(orchestrator: Orchestrator, run_dir: Path) -> None:
    """The resolved config (enough to rerun: ``aiforge run <run_dir>/config.yaml``), the class
    names, and the fitted preprocessor, written as soon as they exist so that every checkpoint
    has them beside it."""
    text = "# Resolved configuration of this run.\n" + yaml.safe_dump(
        config_record(orchestrator), sort_keys=False
    )
    run_files.write_text(run_dir / run_files.CONFIG_FILE, text)
    labels = labels_of(orchestrator)
    if labels is not None:
        run_files.write_json(run_dir / run_files.LABELS_FILE, labels)
    if orchestrator.preprocessor is not None:
        orchestrator.preprocessor.save(run_dir / run_files.PREPROCESSOR_FILE)


def labels_of(orchestrator: Orchestrator) -> dict[str, Any] | None:
    """What ``label_mapping.json`` holds for the data as loaded now; None when it has no class names."""
    dataset = orchestrator.dataset
    if dataset is None or dataset.class_names is None:
        return None
    return labels_record(orchestrator.task, dataset.class_names)


def save_environment(orchestrator: Orchestrator, run_dir: Path) -> None:
    record = environment_record(orchestrator.config.seed, str(orchestrator.device))
    run_files.write_json(run_dir / run_files.ENVIRONMENT_FILE, record)


def save_results(
    orchestrator: Orchestrator, val_loss: float, val_metrics: dict[str, float], duration: float
) -> dict[str, Any]:
    """``final_model.pt`` and ``final_results.json``; returns the results."""
    run_dir, trainer, model = orchestrator.run_dir, orchestrator.trainer, orchestrator.model
    assert run_dir is not None and trainer is not None and model is not None
    model_path = run_dir / run_files.FINAL_MODEL_FILE
    if is_main_process():
        run_files.save_state(model_path, trainer.model_state())
    checkpoint = orchestrator.checkpoint
    assert checkpoint is not None
    epochs_run = len(trainer.history)
    results = {
        "experiment_name": orchestrator.config.experiment_name,
        "run_dir": str(run_dir),
        "task": orchestrator.task,
        "final_val_loss": val_loss,
        "final_val_metrics": val_metrics,
        "best_epoch": checkpoint.best_epoch,
        "monitor": checkpoint.monitor,
        "best_monitor_value": checkpoint.best_value if checkpoint.best_epoch else None,
        "epochs_completed": epochs_run,
        "stopped_early": epochs_run < orchestrator.config.training_config.epochs,
        "num_parameters": model.num_parameters(),
        "train_samples": len(orchestrator.train_indices),
        "val_samples": len(orchestrator.val_indices),
        "duration_seconds": round(duration, 3),
        "model_path": str(model_path),
        "config_path": str(run_dir / run_files.CONFIG_FILE),
    }
    if is_main_process():
        run_files.write_json(run_dir / run_files.RESULTS_FILE, results)
    return results
