"""The MLflow model of a run whose inputs are raw values (a table with categories, texts).

Logged as code ("models from code", see :mod:`aiforge.tracking.mlflow_raw_logging`): MLflow runs
this file when the model is loaded, and :class:`RawInputModel` rebuilds the run from the model's
artifacts, without the training data and without pickle:

- ``config.yaml``: the run's config record (the plugin names and the resolved model config);
- ``reading_state.json``: how the dataset reads raw input columns (its ``reading_state()``);
- ``preprocessor.safetensors``: the fitted preprocessor (when the dataset plugin has one);
- ``weights.pt``: the model's state dict, read with ``weights_only=True``;
- ``label_mapping.json``: the class names (classification).

Loading needs AIForge installed, and the plugins the config names: built-in and installed ones
are found by name; a plugin folder of your own needs ``AIFORGE_PLUGINS_DIR`` set at load.

The one import-time action in AIForge, on purpose: the last line registers the model with
``mlflow.models.set_model``, which is how a models-from-code file names its model. AIForge itself
never imports this module (the logging side refers to it by path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from aiforge.tracking.mlflow_raw_logging import CONFIG, LABELS, PREPROCESSOR, READING_STATE, WEIGHTS


def load_logged_config(path: str | Path, plugins_dir: Path | None) -> Any:
    """The logged ``config.yaml`` read as run-folder data: a dotted plugin or class path in it is
    refused (as ``core.plugins.run_folder_plugins`` does for a run folder), and its ``callbacks``,
    which a loaded model never runs, are neither imported nor checked."""
    from aiforge.config.loading import load_experiment_config
    from aiforge.core.plugins import run_folder_plugins

    with run_folder_plugins(path):
        return load_experiment_config(path, plugins_dir=plugins_dir, saved=True, ignore_callbacks=True)


class RawInputModel(mlflow.pyfunc.PythonModel):
    """A DataFrame of raw input columns in (strings, gaps); class probabilities (one column per
    class name) or predictions (regression) out: the numbers ``aiforge predict`` gives."""

    def load_context(self, context: Any) -> None:
        """Rebuild the dataset's reading, the preprocessor and the model from the artifacts."""
        import torch

        from aiforge.config.settings import get_settings
        from aiforge.core.inference import InferenceModel
        from aiforge.core.plugins import call_plugin, plugin_classes
        from aiforge.training.builders import outputs_are_logits, task_for_loss

        artifacts = context.artifacts
        plugins_dir = get_settings().PLUGINS_DIR
        config = load_logged_config(artifacts[CONFIG], plugins_dir)
        classes = plugin_classes(config.model_plugin, config.dataset_plugin, plugins_dir)
        dataset = classes.dataset()
        state = json.loads(Path(artifacts[READING_STATE]).read_text(encoding="utf-8"))
        dataset.restore_reading(state)
        preprocessor = None
        if classes.preprocessor is not None:
            preprocessor = classes.preprocessor()
            preprocessor.load(artifacts[PREPROCESSOR])
        model = call_plugin(config.model_plugin, "model_config", classes.model, config.model_specific_config)
        weights = torch.load(artifacts[WEIGHTS], map_location="cpu", weights_only=True)
        model.load_state_dict(weights)
        model.device = torch.device("cpu")
        loss = config.training_config.loss_fn_name
        task = task_for_loss(loss)
        self.inference = InferenceModel(model, preprocessor, task, None, logits=outputs_are_logits(loss))
        self.inference.cpu().eval()
        self.dataset = dataset
        self.plugin = config.dataset_plugin
        self.task = task
        self.class_names: list[str] | None = None
        if task == "classification" and LABELS in artifacts:
            labels = json.loads(Path(artifacts[LABELS]).read_text(encoding="utf-8"))
            self.class_names = [str(name) for name in labels["classes"]]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """``model_input``: a DataFrame with the run's raw input columns (extra columns ignored).

        Typed ``pd.DataFrame``: MLflow then passes it on as it is (no schema of its own).
        """
        from aiforge.core.inference import model_outputs
        from aiforge.core.plugins import call_plugin

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        raw = call_plugin(self.plugin, None, self.dataset.features_from_table, frame, "input")
        outputs = model_outputs(self.inference.from_raw, raw, len(frame))
        return pd.DataFrame(outputs, columns=self._columns(outputs.shape[1]), index=frame.index)

    def _columns(self, width: int) -> list[str]:
        """Class names (classification), else ``prediction`` or ``prediction_0..``."""
        if self.task == "classification":
            names = self.class_names
            if names is None:
                return [str(i) for i in range(width)]
            if len(names) != width:  # never indices in place of names: the files disagree
                raise ValueError(
                    f"label_mapping.json names {len(names)} classes, the model has {width} outputs"
                )
            return names
        return ["prediction"] if width == 1 else [f"prediction_{i}" for i in range(width)]


mlflow.models.set_model(RawInputModel())
