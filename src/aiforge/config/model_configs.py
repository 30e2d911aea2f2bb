"""The experiment schema: the seed's field names, validated by pydantic."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PositiveInt,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aiforge.config.class_paths import CallbackSpec

# ModelSpecificConfig lives in a leaf module that the plugin contracts import too; this is its seed path.
from aiforge.config.model_section import ModelSpecificConfig, model_config_as
from aiforge.config.strict import StrictSection

# The sections in their own modules, re-exported here: the seed's import path for all of them.
from aiforge.config.tracking_section import TrackingBackend, TrackingConfig
from aiforge.config.training_section import CompileConfig, SchedulerConfig, TrainingConfig, monitor_key

__all__ = [
    "MAX_LAYERS",
    "MAX_WIDTH",
    "CompileConfig",
    "ExperimentConfig",
    "ModelSpecificConfig",
    "SchedulerConfig",
    "SimpleNNConfig",
    "TrackingBackend",
    "TrackingConfig",
    "TrainingConfig",
    "experiment_json_schema",
    "logged_name_problems",
    "model_config_as",
    "monitor_key",
]

EXPERIMENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Sizes a model is built from: a few zeros too many must fail here, not hang or overflow in torch.
MAX_WIDTH = 2**31 - 1
MAX_LAYERS = 10_000


class SimpleNNConfig(ModelSpecificConfig):
    """Settings of the built-in ``simple_nn`` feed-forward network."""

    input_dim: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Number of input features (default: from the data)."
    )
    hidden_dim: PositiveInt = Field(128, le=MAX_WIDTH, description="Width of each hidden layer.")
    output_dim: PositiveInt | None = Field(
        None, le=MAX_WIDTH, description="Outputs: classes, or 1 for regression (default: from the data)."
    )
    num_hidden_layers: PositiveInt = Field(1, le=MAX_LAYERS, description="Number of hidden layers.")
    dropout_rate: float = Field(0.2, ge=0.0, le=1.0, description="Dropout after each hidden layer.")
    activation_fn: Literal["ReLU", "Sigmoid", "Tanh", "GELU", "LeakyReLU", "SiLU"] = Field(
        "ReLU", description="Activation of the hidden layers."
    )
    embedding_cardinalities: list[PositiveInt] | None = Field(
        None,
        description=(
            "Categories per embedded input column: the first len(...) input columns are category "
            "indices, each embedded (default: from the data, e.g. the tabular plugin)."
        ),
    )
    embedding_dim: PositiveInt | None = Field(
        None,
        le=MAX_WIDTH,
        description="Width of each embedding (default: min(16, (categories + 1) // 2) per column).",
    )


class ExperimentConfig(StrictSection):
    """One experiment: which plugins, which data, and how to train.

    ``model_config`` is the public name of the model settings (in files and as a
    keyword); in Python the value is read back as ``config.model_specific_config``
    because pydantic reserves the attribute ``model_config``.
    """

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, protected_namespaces=(), validate_assignment=True
    )

    experiment_name: str = Field(
        "default_experiment", description="Name of the results folder (letters, digits, . _ -)."
    )
    model_plugin: str = Field(
        ..., description="Model plugin: built-in name, entry point, folder or dotted path."
    )
    dataset_plugin: str = Field(..., description="Dataset plugin, resolved like model_plugin.")
    data_path: str | None = Field(None, description="Data file for the dataset plugin (if it reads one).")
    dataset_args: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for Dataset.load_data."
    )
    preprocess_args: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for Preprocessor.fit."
    )
    model_specific_config: SerializeAsAny[ModelSpecificConfig] = Field(
        None,  # type: ignore[assignment]  # replaced by the plugin's config class below
        alias="model_config",
        validate_default=True,
        description="Settings of the model plugin, validated by its Model.config_class.",
    )
    training_config: TrainingConfig = Field(default_factory=TrainingConfig, description="The training loop.")
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="Seed for Python, NumPy and torch, and for the split."
    )
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of rows held out for validation.")
    test_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of all rows held out as the test split, taken out (seeded) before the "
        "train/validation split; scored once on the best model at the end, never used for a choice. "
        "0: no test split. With val_fraction it must leave rows for training.",
    )
    test_data_path: str | None = Field(
        None,
        description="A separate file of test rows, read by the same dataset plugin and dataset_args "
        "(found like data_path); instead of test_fraction.",
    )
    metrics: list[str] | None = Field(
        None, description="Validation metrics by name; default chosen from the loss."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="MLflow tracking of the run."
    )
    callbacks: list[CallbackSpec] = Field(
        default_factory=list,
        description="Callbacks built from the config, each {class_path, init_args}: a built-in's short "
        "name or the dotted path of an aiforge.utils.callbacks.Callback subclass (imported: configs "
        "are code; --no-imports refuses dotted paths). They run after the trackers.",
    )

    @field_validator("experiment_name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # fullmatch: with match, '$' also accepts a trailing newline ('exp\n').
        if not EXPERIMENT_NAME_PATTERN.fullmatch(name) or name in (".", ".."):
            raise ValueError(
                "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a "
                "letter or digit (it becomes a folder name, so '/' and '..' are not allowed)"
            )
        return name

    @field_validator("model_plugin", "dataset_plugin")
    @classmethod
    def _plugin_named(cls, name: str) -> str:
        if not name.strip():
            raise ValueError(
                "must name a plugin: a built-in name (see `aiforge plugins`), an installed entry point, "
                "a folder in AIFORGE_PLUGINS_DIR or a dotted import path"
            )
        return name

    @field_validator("data_path", "test_data_path")
    @classmethod
    def _usable_path(cls, path: str | None) -> str | None:
        """Text that can name a file: checked here, so no later filesystem call fails on it."""
        if path is None:
            return None
        if "\x00" in path:
            raise ValueError("contains a NUL character, which no file name can hold")
        try:
            encoded = path.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains characters that cannot be part of a file name") from None
        if len(encoded) > 4095 or any(len(part) > 255 for part in encoded.split(b"/")):
            raise ValueError("is too long for a file path (255 bytes per name, 4095 in all)")
        return path

    @model_validator(mode="after")
    def _rows_left_for_training(self) -> ExperimentConfig:
        """The test split and the validation split are shares of all rows: training needs the rest."""
        if self.test_fraction > 0 and self.test_data_path is not None:
            raise ValueError(
                f"test_fraction ({self.test_fraction}) and test_data_path ({self.test_data_path!r}) "
                "both choose the test rows; set only one of them"
            )
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError(
                f"test_fraction ({self.test_fraction}) + val_fraction ({self.val_fraction}) must be "
                "below 1: together they leave no rows for training"
            )
        return self

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        if not names:
            raise ValueError("name at least one metric, or leave metrics out for the default set")
        from aiforge.utils.metrics import METRICS

        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; available: {', '.join(sorted(METRICS))}")
        return list(dict.fromkeys(names))

    @field_validator("model_specific_config", mode="before")
    @classmethod
    def _validate_with_plugin_schema(cls, value: Any, info: ValidationInfo) -> Any:
        """A mapping (or nothing) is validated by the model plugin's own config class."""
        if isinstance(value, ModelSpecificConfig):
            return value
        plugin = info.data.get("model_plugin")
        if plugin is None:
            # model_plugin is missing or invalid; that error is reported, not this one.
            return ModelSpecificConfig()
        from aiforge.core.plugins import model_config_class

        return model_config_as(model_config_class(plugin), value)


def logged_name_problems(config: ExperimentConfig) -> list[str]:
    """Metrics that do not fit the task, and monitors that the run will not log.

    Both depend on several fields at once (the loss decides the task), so they are
    checked on a whole config, before any folder is made.
    """
    from aiforge.training.builders import task_for_loss
    from aiforge.utils.metrics import METRICS, default_metrics

    tcfg = config.training_config
    task = task_for_loss(tcfg.loss_fn_name)
    names = config.metrics if config.metrics is not None else default_metrics(task)
    problems = []
    wrong = [name for name in names if METRICS[name] != task]
    if wrong:
        problems.append(f"metrics: {wrong} do not apply to a {task} task ({tcfg.loss_fn_name})")
    known = ["train_loss", "val_loss", "lr", *(f"val_{name}" for name in names)]
    monitors = {"training_config.early_stopping_monitor": tcfg.early_stopping_monitor}
    if tcfg.scheduler is not None:
        monitors["training_config.scheduler.monitor"] = tcfg.scheduler.monitor
    for index, spec in enumerate(getattr(config, "callbacks", None) or []):  # EarlyStopping only warns
        early_stopping = spec.class_path in ("EarlyStopping", "aiforge.utils.callbacks.EarlyStopping")
        if early_stopping and "monitor" in spec.init_args:
            monitors[f"callbacks.{index}.init_args.monitor"] = spec.init_args["monitor"]
    for key, monitor in monitors.items():
        if monitor not in known:
            problems.append(f"{key}: '{monitor}' is not logged by this run; choose from {', '.join(known)}")
    return problems


def experiment_json_schema() -> dict[str, Any]:
    """JSON Schema of a config file, for editors.

    ``model_config`` depends on the chosen model plugin, so it is an open mapping here;
    ``aiforge plugins`` lists each plugin's fields.
    """
    schema = ExperimentConfig.model_json_schema(by_alias=True)
    schema["properties"]["model_config"] = {
        "type": "object",
        "title": "Model Config",
        "description": "Settings of the model plugin (see `aiforge plugins`); e.g. for simple_nn: "
        + ", ".join(SimpleNNConfig.model_fields),
        "additionalProperties": True,
    }
    schema.get("$defs", {}).pop("ModelSpecificConfig", None)
    return schema
