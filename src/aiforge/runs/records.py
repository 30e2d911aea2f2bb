"""What a run writes about itself: resolved config, labels, environment, preprocessor, results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aiforge.runs import files as run_files
from aiforge.runs.environment import environment_record
from aiforge.runs.labels import labels_record
from aiforge.runtime.distributed import is_main_process

if TYPE_CHECKING:
    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor


# Keys left out of the record while at their default: a run without a test split records (and
# checks on resume) exactly what runs recorded before these keys existed.
_OMITTED_AT_DEFAULT: dict[str, Any] = {"test_fraction": 0.0, "test_data_path": None, "callbacks": []}
# The same for simple_nn's embeddings (a table with many-level categories fills them) and for
# training keys added later.
_MODEL_OMITTED_AT_DEFAULT = {"embedding_cardinalities": None, "embedding_dim": None}
_TRAINING_OMITTED_AT_DEFAULT = {"deterministic": False}
_SCHEDULER_OMITTED_AT_DEFAULT = {"interval": "epoch", "warmup_steps": None, "warmup_ratio": None}
_TRACKING_OMITTED_AT_DEFAULT = {"backends": ["mlflow"]}


def config_record(config: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as plain data: what ``config.yaml`` and every checkpoint hold."""
    record = config.model_dump(mode="json", by_alias=True)
    for section, omitted in (
        (record, _OMITTED_AT_DEFAULT),
        (record.get("model_config"), _MODEL_OMITTED_AT_DEFAULT),
        (record.get("training_config"), _TRAINING_OMITTED_AT_DEFAULT),
        ((record.get("training_config") or {}).get("scheduler"), _SCHEDULER_OMITTED_AT_DEFAULT),
        (record.get("tracking"), _TRACKING_OMITTED_AT_DEFAULT),
    ):
        for key, default in omitted.items():
            if isinstance(section, dict) and key in section and section[key] == default:
                del section[key]
    return record


def config_file_text(config: ExperimentConfig) -> str:
    """``config.yaml``'s text: the record, with a literal ``${`` (a ``\\${`` the user wrote, now
    resolved) written ``\\${`` again, so ``aiforge run RUN/config.yaml`` does not make it a reference.
    Reading the run folder as data turns ``\\${`` back into ``${`` (config.composition)."""
    record = escape_references(config_record(config))
    return "# Resolved configuration of this run.\n" + yaml.safe_dump(record, sort_keys=False)


def escape_references(value: Any) -> Any:
    """``value`` with every ``${`` in its text written ``\\${``."""
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {key: escape_references(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape_references(item) for item in value]
    return value


def save_records(
    run_dir: Path,
    config: ExperimentConfig,
    labels: dict[str, Any] | None,
    preprocessor: BasePreprocessor | None,
) -> None:
    """The resolved config (enough to rerun: ``aiforge run <run_dir>/config.yaml``), the class
    names (``labels``, from :func:`labels_of`), and the fitted preprocessor, written as soon as
    they exist so that every checkpoint has them beside it."""
    run_files.write_text(run_dir / run_files.CONFIG_FILE, config_file_text(config))
    if labels is not None:
        run_files.write_json(run_dir / run_files.LABELS_FILE, labels)
    if preprocessor is not None:
        preprocessor.save(run_dir / run_files.PREPROCESSOR_FILE)
        run_files.write_json(run_dir / run_files.PREPROCESSOR_JSON_FILE, readable_state(preprocessor))


READABLE_TENSOR_VALUES = 10_000  # a larger fitted tensor is shown by its shape only


def readable_state(preprocessor: BasePreprocessor) -> dict[str, Any]:
    """The fitted state to read: JSON values as they are, tensors as lists (their shape and dtype
    past READABLE_TENSOR_VALUES values); preprocessor.safetensors stays what the run reads back."""
    tensors, metadata = preprocessor.serialisable_state()
    state = json.loads(metadata["json"])
    for key, tensor in tensors.items():
        shown = str(tensor.dtype).removeprefix("torch.")
        if tensor.numel() <= READABLE_TENSOR_VALUES:
            state[key] = tensor.tolist()
        else:
            state[key] = f"<tensor of shape {list(tensor.shape)}, {shown}>"
    return {"class": metadata["class"], "state": state}


def labels_of(task: str, dataset: BaseDataset | None) -> dict[str, Any] | None:
    """What ``label_mapping.json`` holds for the data as loaded now; None when it has no class names."""
    if dataset is None or dataset.class_names is None:
        return None
    return labels_record(task, dataset.class_names)


def save_environment(run_dir: Path, seed: int, device: str) -> None:
    run_files.write_json(run_dir / run_files.ENVIRONMENT_FILE, environment_record(seed, device))


def save_results(
    run_dir: Path,
    config: ExperimentConfig,
    task: str,
    trainer: Any,
    checkpoint: Any,
    num_parameters: int,
    samples: tuple[int, int],
    evaluation: tuple[float, dict[str, float]],
    duration: float,
    test: tuple[int, float, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """``final_model.pt`` and ``final_results.json``; returns the results.

    ``trainer`` (its ``model_state()`` and ``history``) and ``checkpoint`` (the best epoch) are the
    run's Trainer and ModelCheckpoint; ``samples`` the training and validation row counts;
    ``evaluation`` the final validation loss and metrics; ``test`` (only with a held-out test
    split) its row count, loss and metrics.
    """
    model_path = run_dir / run_files.FINAL_MODEL_FILE
    if is_main_process():
        run_files.save_state(model_path, trainer.model_state())
    val_loss, val_metrics = evaluation
    epochs_run = len(trainer.history)
    results = {
        "experiment_name": config.experiment_name,
        "run_dir": str(run_dir),
        "task": task,
        "final_val_loss": val_loss,
        "final_val_metrics": val_metrics,
        "best_epoch": checkpoint.best_epoch,
        "monitor": checkpoint.monitor,
        "best_monitor_value": checkpoint.best_value if checkpoint.best_epoch else None,
        "epochs_completed": epochs_run,
        "stopped_early": epochs_run < config.training_config.epochs,
        "num_parameters": num_parameters,
        "train_samples": samples[0],
        "val_samples": samples[1],
        "duration_seconds": round(duration, 3),
        "model_path": str(model_path),
        "config_path": str(run_dir / run_files.CONFIG_FILE),
    }
    if test is not None:
        results["test_samples"], results["test_loss"], results["test_metrics"] = test
    if is_main_process():
        run_files.write_json(run_dir / run_files.RESULTS_FILE, results)
    return results
