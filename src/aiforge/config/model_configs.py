"""The experiment schema: the seed's field names, validated by pydantic."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aiforge.config.class_paths import CallbackSpec, translate_scheduler, translate_training

# ModelSpecificConfig lives in a leaf module that the plugin contracts import too; this is its seed path.
from aiforge.config.model_section import ModelSpecificConfig, model_config_as
from aiforge.config.strict import FiniteNonNegativeFloat, FinitePositiveFloat, StrictSection

EXPERIMENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Sizes a model is built from: a few zeros too many must fail here, not hang or overflow in torch.
MAX_WIDTH = 2**31 - 1
MAX_LAYERS = 10_000


class SchedulerConfig(StrictSection):
    """An LR scheduler from ``torch.optim.lr_scheduler``, stepped once per epoch or per optimizer
    step, after an optional linear warmup (see training/schedules.py for the sizing)."""

    name: str = Field(..., description="Class name, e.g. StepLR, CosineAnnealingLR, ReduceLROnPlateau.")
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the class.")
    monitor: str = Field("val_loss", description="Metric that ReduceLROnPlateau watches.")
    interval: Literal["epoch", "step"] = Field(
        "epoch",
        description="Step the scheduler once per epoch, or once per optimizer step (after gradient "
        "accumulation); warmup_steps and the sizes filled in count in this unit.",
    )
    warmup_steps: NonNegativeInt | None = Field(
        None,
        description="Linear warmup over this many intervals (optimizer steps or epochs) before the "
        "scheduler; not with warmup_ratio.",
    )
    warmup_ratio: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Linear warmup over this share of the run's intervals (rounded up); "
        "not with warmup_steps.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_class_path(cls, data: Any) -> Any:
        return translate_scheduler(data)  # {class_path, init_args} -> {name, args}

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        from aiforge.training.builders import scheduler_class

        scheduler_class(name)  # raises ValueError naming the choices
        return name

    @field_validator("monitor")
    @classmethod
    def _monitor_name(cls, name: str) -> str:
        return monitor_key(name)  # 'accuracy' -> 'val_accuracy', as for early_stopping_monitor

    @model_validator(mode="after")
    def _schedule_fits(self) -> SchedulerConfig:
        from aiforge.training.schedules import schedule_problem

        problem = schedule_problem(self.name, self.interval, self.warmup_steps, self.warmup_ratio)
        if problem:
            raise ValueError(problem)
        return self


class CompileConfig(StrictSection):
    """Options passed to ``torch.compile``."""

    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = Field(
        None, description="torch.compile's mode; default: torch's own."
    )
    backend: str = Field("inductor", description="A torch.compile backend, e.g. inductor, eager, aot_eager.")
    fullgraph: bool = Field(False, description="Fail instead of falling back to Python at graph breaks.")
    dynamic: bool | None = Field(None, description="Dynamic shapes; default: decided by torch.")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        import torch._dynamo

        if name not in torch._dynamo.list_backends(exclude_tags=()):
            known = ", ".join(torch._dynamo.list_backends())
            raise ValueError(f"unknown torch.compile backend {name!r}; known: {known}")
        return name


class TrainingConfig(StrictSection):
    """How the training loop runs (the seed's fields, plus a few that users expect)."""

    epochs: PositiveInt = Field(10, description="Number of training epochs.")
    batch_size: PositiveInt = Field(32, description="Batch size for training and validation.")
    learning_rate: FinitePositiveFloat = Field(0.001, description="Learning rate for the optimizer.")
    optimizer_name: str = Field("Adam", description="Any torch.optim optimizer, e.g. Adam, AdamW, SGD.")
    optimizer_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments, e.g. {weight_decay: 0.01}. Adam and AdamW default to "
        "torch's fused kernel where it fits the parameters; {fused: false} keeps torch's default.",
    )
    loss_fn_name: str = Field("CrossEntropyLoss", description="Any torch.nn loss, e.g. MSELoss.")
    loss_fn_args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the loss.")
    gradient_clip_norm: FinitePositiveFloat | None = Field(
        None, description="Clip gradients to this max norm."
    )
    gradient_accumulation_steps: PositiveInt = Field(
        1, description="Optimizer step every N batches (effective batch = N x batch_size)."
    )
    deterministic: bool = Field(
        False,
        description="Deterministic kernels (torch.use_deterministic_algorithms; on CUDA also "
        "CUBLAS_WORKSPACE_CONFIG=:4096:8 and no cuDNN benchmarking), so a GPU run repeats exactly "
        "as a CPU one does; an operation without a deterministic kernel then fails naming itself.",
    )
    early_stopping_patience: PositiveInt | None = Field(
        None,
        description="Epochs without improvement before stopping; unset disables early stopping.",
    )
    early_stopping_monitor: str = Field(
        "val_loss", description="Metric watched by early stopping and the best checkpoint."
    )
    early_stopping_mode: Literal["min", "max"] = Field(
        None,  # type: ignore[assignment]  # filled from the monitor below
        description="min for losses, max for scores; default: follows the monitor (max for val_accuracy).",
    )
    early_stopping_min_delta: FiniteNonNegativeFloat = Field(
        0.001, description="Smallest change that counts."
    )
    scheduler: SchedulerConfig | None = Field(None, description="Optional LR scheduler.")
    checkpoint_every_n_epochs: NonNegativeInt = Field(
        1,
        description="Write checkpoints/last.pt (and best.pt) after every N-th epoch; 0: only when training "
        "ends or is stopped by a signal. The last epoch is always saved; a crash loses at most N epochs "
        "(with 0, the run: there is nothing to resume from).",
    )
    checkpoint_every_n_steps: PositiveInt | None = Field(
        None,
        description="Also write checkpoints/last.pt every N optimizer steps, not only after each epoch "
        "(for long epochs: a resume then loses at most N steps).",
    )
    nonfinite_loss: Literal["stop", "skip"] = Field(
        "stop",
        description="A NaN or infinite training loss: 'stop' ends the run with an error naming the epoch "
        "and step; 'skip' drops that batch's update and goes on (one host sync per step).",
    )

    precision: Literal["32", "bf16-mixed", "16-mixed"] = Field(
        "32",
        description="32: float32. bf16-mixed: autocast to bfloat16 (CPU and recent GPUs). 16-mixed: "
        "autocast to float16 with a gradient scaler (CUDA; on CPU it runs as bf16-mixed, with a warning).",
    )
    compile: bool | CompileConfig = Field(
        False,
        description="torch.compile the model: true, or torch.compile's options {mode, backend, "
        "fullgraph, dynamic}. The first steps compile (seconds to minutes); it pays off on large models.",
    )
    inference_mode: bool = Field(
        True,
        description="Validate under torch.inference_mode, which is faster than no_grad (as in Lightning); "
        "false for a validation_step that needs autograd or keeps tensors that training later uses.",
    )
    num_workers: NonNegativeInt | Literal["auto"] = Field(
        "auto",
        description="DataLoader worker processes for per-item datasets: auto is 0 on CPU (training "
        "uses the cores) and up to 4 per GPU. In-memory datasets are sliced, never use workers.",
    )
    pin_memory: bool | None = Field(
        None, description="Page-locked batches for faster copies to the GPU; default: on with CUDA."
    )
    persistent_workers: bool | None = Field(
        None, description="Keep DataLoader workers between epochs; default: on when there are workers."
    )

    # The seed's distributed fields; the launcher's environment fills them in.
    use_distributed: bool = Field(False, description="Use DistributedDataParallel (set under torchrun).")
    local_rank: int = Field(0, ge=0, description="Local rank (set by the launcher).")
    world_size: PositiveInt = Field(1, description="Number of processes (set by the launcher).")

    @model_validator(mode="before")
    @classmethod
    def _from_class_paths(cls, data: Any) -> Any:
        return translate_training(data)  # optimizer:/loss: {class_path, init_args} -> *_name, *_args

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_options(cls, value: Any) -> Any:
        """One clear message instead of one per member of ``bool | CompileConfig``."""
        if isinstance(value, (bool, CompileConfig)):
            return value
        if not isinstance(value, dict):
            raise ValueError("expected true, false or torch.compile options such as {mode: max-autotune}")
        try:
            return CompileConfig.model_validate(value)
        except ValidationError as err:
            problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
            raise ValueError("; ".join(problems).replace("Value error, ", "")) from None

    @field_validator("num_workers", mode="before")
    @classmethod
    def _worker_count(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise ValueError("expected a number of worker processes (0 or more) or 'auto'")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_alias(cls, value: Any) -> Any:
        """Lightning's spellings too: 32, "32-true", 16, "16", "bf16"."""
        aliases = {32: "32", "32-true": "32", 16: "16-mixed", "16": "16-mixed", "bf16": "bf16-mixed"}
        return aliases.get(value, value) if isinstance(value, (int, str)) else value

    @field_validator("optimizer_name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        from aiforge.training.builders import optimizer_class

        optimizer_class(name)
        return name

    @field_validator("loss_fn_name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        from aiforge.training.builders import loss_class

        loss_class(name)
        return name

    @field_validator("loss_fn_args")
    @classmethod
    def _mean_reduction(cls, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("reduction", "mean") != "mean":
            raise ValueError(
                "reduction must be 'mean': the loop averages per batch and weights by batch size"
            )
        return args

    @field_validator("early_stopping_monitor")
    @classmethod
    def _monitor_name(cls, name: str) -> str:
        return monitor_key(name)

    @model_validator(mode="before")
    @classmethod
    def _mode_follows_monitor(cls, data: Any) -> Any:
        """An unset mode is ``max`` for a score (val_accuracy) and ``min`` for a loss or error."""
        if isinstance(data, dict) and data.get("early_stopping_mode") is None:
            from aiforge.utils.metrics import monitor_mode

            monitor = data.get("early_stopping_monitor", "val_loss")
            data = {
                **data,
                "early_stopping_mode": monitor_mode(
                    monitor_key(monitor) if isinstance(monitor, str) else "val_loss"
                ),
            }
        return data


TrackingBackend = Literal["mlflow", "tensorboard", "csv", "wandb"]


class TrackingConfig(StrictSection):
    """Tracking of the run: MLflow by default (to MLflow's default local store), or any set of
    ``backends``; ``tracking_uri``, ``experiment_name``, ``log_model`` and ``on_unreachable`` are MLflow's."""

    enabled: bool = Field(
        True, description="Track this run (AIFORGE_TRACKING=false also turns every backend off)."
    )
    backends: list[TrackingBackend] = Field(
        default_factory=lambda: ["mlflow"],
        description="Where to track the run, any of mlflow, tensorboard (event files in the run "
        "folder's tensorboard/), csv (csv/metrics.csv in the run folder), wandb (needs the wandb package).",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: AIFORGE_MLFLOW_TRACKING_URI, then MLflow's own default.",
    )
    experiment_name: str | None = Field(None, description="MLflow experiment; default: experiment_name.")
    run_name: str | None = Field(None, description="MLflow run name; default: the run folder's name.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on the MLflow run.")
    log_model: bool = Field(
        True,
        description="Log the model with its preprocessing to MLflow (pyfunc-loadable): a torch.export "
        "graph (no pickle), or pickled with a warning when the model cannot be traced.",
    )
    log_every_n_steps: PositiveInt | None = Field(
        None,
        description="Also log the training loss (step_train_loss) every N optimizer steps, at step = "
        "the optimizer step (trainer.global_step), in every backend.",
    )
    on_unreachable: Literal["fail", "warn"] = Field(
        "fail",
        description="When the MLflow store cannot be used at the start (server down, file locked or "
        "damaged): fail (exit 2, nothing made), or warn and train untracked.",
    )

    @field_validator("backends")
    @classmethod
    def _unique_backends(cls, backends: list[str]) -> list[str]:
        repeated = sorted({name for name in backends if backends.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once; name each backend once")
        return backends

    @field_validator("tracking_uri")
    @classmethod
    def _usable_uri(cls, uri: str | None) -> str | None:
        from aiforge.config.tracking_uris import uri_problem

        problem = uri_problem(uri) if uri is not None else None
        if problem is not None:
            raise ValueError(problem)
        return uri


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


def monitor_key(name: str) -> str:
    """Normalise a metric name to the key used in epoch logs (``accuracy`` -> ``val_accuracy``)."""
    if name in ("train_loss", "val_loss", "lr") or name.startswith(("val_", "train_")):
        return name
    return f"val_{name}"


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
