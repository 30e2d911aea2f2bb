"""Log the MLflow model of a raw-input run: :mod:`aiforge.tracking.mlflow_raw_model` as code, with
the run's config, reading state, preprocessor, weights and class names as artifacts (no pickle).

Kept apart from that module, which MLflow runs at load and which ends by registering its model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

RAW_FORMAT = "raw-input pyfunc"
# The model's artifacts, by the names RawInputModel.load_context finds them under
CONFIG = "config"
READING_STATE = "reading_state"
PREPROCESSOR = "preprocessor"
WEIGHTS = "weights"
LABELS = "labels"
MODEL_CODE = Path(__file__).with_name("mlflow_raw_model.py")


def can_log_raw_model(orchestrator: Any) -> bool:
    """Whether the run's dataset can describe how it reads raw input columns (the optional
    ``reading_state``/``restore_reading`` hooks), which the logged model needs."""
    dataset = getattr(orchestrator, "dataset", None)
    return all(callable(getattr(dataset, hook, None)) for hook in ("reading_state", "restore_reading"))


def log_raw_input_model(orchestrator: Any) -> str:
    """Log the model under ``model`` in the active MLflow run; returns its format (the tag)."""
    import mlflow
    import torch

    from aiforge.runs.records import config_file_text, labels_of

    inference = orchestrator.inference_model().cpu().eval()
    dataset = orchestrator.dataset
    with tempfile.TemporaryDirectory(prefix="aiforge-mlflow-model-") as folder:
        root = Path(folder)
        files = {CONFIG: root / "config.yaml", READING_STATE: root / "reading_state.json"}
        files[CONFIG].write_text(config_file_text(orchestrator.config), encoding="utf-8")  # as config.yaml
        state = dataset.reading_state()
        files[READING_STATE].write_text(json.dumps(state), encoding="utf-8")
        files[WEIGHTS] = root / "weights.pt"
        weights = {
            key: value.detach().cpu() if isinstance(value, torch.Tensor) else value
            for key, value in inference.model.state_dict().items()
        }
        torch.save(weights, files[WEIGHTS])  # tensors only: torch.load(weights_only=True) reads it
        if inference.preprocessor is not None:
            files[PREPROCESSOR] = root / "preprocessor.safetensors"
            inference.preprocessor.save(files[PREPROCESSOR])
        labels = labels_of(inference.task, dataset) if inference.task == "classification" else None
        if labels is not None:
            files[LABELS] = root / "label_mapping.json"
            files[LABELS].write_text(json.dumps(labels), encoding="utf-8")
        requirements = [
            f"torch=={torch.__version__.split('+')[0]}",
            f"mlflow=={mlflow.__version__}",
            "aiforge",
        ]
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={key: str(path) for key, path in files.items()},
            pip_requirements=requirements,
            metadata={"feature_names": orchestrator.feature_names(), "reading_state": state},
        )
    return RAW_FORMAT
