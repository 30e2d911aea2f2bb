"""The ``training_config`` section: the training loop's settings, its LR scheduler and torch.compile.

Its own module so that the experiment schema (:mod:`aiforge.config.model_configs`, which
re-exports every name here: the seed's import path) reads in one sitting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from aiforge.config.class_paths import translate_scheduler, translate_training
from aiforge.config.strict import FiniteNonNegativeFloat, FinitePositiveFloat, StrictSection


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


def monitor_key(name: str) -> str:
    """Normalise a metric name to the key used in epoch logs (``accuracy`` -> ``val_accuracy``)."""
    if name in ("train_loss", "val_loss", "lr") or name.startswith(("val_", "train_")):
        return name
    return f"val_{name}"
