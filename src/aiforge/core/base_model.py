"""BaseModel: the contract every model plugin implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from aiforge.config.model_section import ModelSpecificConfig
from aiforge.training.builders import build_loss, build_optimizer


class BaseModel(nn.Module, ABC):
    """An ``nn.Module`` that also knows how to take a training and a validation step.

    Subclasses implement ``forward`` and set ``config_class`` to their
    ``ModelSpecificConfig`` subclass, so a config file's ``model_config:`` mapping
    is validated against it. ``training_step``, ``validation_step``,
    ``configure_optimizer`` and ``configure_loss_fn`` have working defaults for
    the usual "features in, predictions out, loss against labels" case.
    """

    config_class: ClassVar[type[ModelSpecificConfig]] = ModelSpecificConfig

    def __init__(self, model_config: ModelSpecificConfig | None = None) -> None:
        super().__init__()
        self.model_config = model_config
        self.optimizer: torch.optim.Optimizer | None = None
        self.loss_fn: nn.Module | None = None
        self.device: torch.device | None = None

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch of features to predictions (logits for classification)."""

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Return ``{'loss': ..., 'predictions': ...}`` for one training batch."""
        predictions = self(batch["features"])
        return {"loss": self.compute_loss(predictions, batch["labels"]), "predictions": predictions}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Return ``{'loss': ..., 'predictions': ...}`` for one validation batch."""
        return self.training_step(batch, batch_idx)

    def compute_loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Apply ``loss_fn``, matching shapes and dtypes the way each loss family expects."""
        loss_fn = self.loss_fn  # once: a submodule attribute costs a Python call per access
        if loss_fn is None:
            raise RuntimeError("loss_fn is not set: call configure_loss_fn first")
        predictions, targets = align_for_loss(loss_fn, predictions, targets)
        return loss_fn(predictions, targets)

    def configure_optimizer(
        self, optimizer_name: str, learning_rate: float, **optimizer_args: Any
    ) -> torch.optim.Optimizer:
        """Any ``torch.optim`` optimizer over all parameters; override for parameter groups."""
        return build_optimizer(self.parameters(), optimizer_name, learning_rate, **optimizer_args)

    def configure_loss_fn(self, loss_fn_name: str, **loss_fn_args: Any) -> nn.Module:
        """Any ``torch.nn`` loss by name; override for a custom loss."""
        return build_loss(loss_fn_name, **loss_fn_args)

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


_INDEX_TARGET_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
# Torch's classification losses that take float targets: a subclass with ``task`` keeps them.
_FLOAT_TARGET_CLASSIFICATION_LOSSES = (
    nn.BCELoss,
    nn.BCEWithLogitsLoss,
    nn.MultiLabelSoftMarginLoss,
    nn.SoftMarginLoss,
    nn.HingeEmbeddingLoss,
    nn.MultiLabelMarginLoss,
)


def _index_targets_by_task(loss_fn: nn.Module) -> bool:
    """A custom loss with ``task = "classification"`` counts as CrossEntropyLoss (see
    ``training.builders.loss_kind``): integer class labels, as the task and metrics assume."""
    return getattr(type(loss_fn), "task", None) == "classification" and not isinstance(
        loss_fn, _FLOAT_TARGET_CLASSIFICATION_LOSSES
    )


def align_for_loss(
    loss_fn: nn.Module, predictions: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-index losses get integer targets; others get float targets shaped like the output.

    This lets one dataset (integer labels, or float values of shape ``[N]``) work
    with a one-output model (``[N, 1]``) under MSE, L1 or BCEWithLogits alike.
    """
    if isinstance(loss_fn, _INDEX_TARGET_LOSSES) or _index_targets_by_task(loss_fn):
        return predictions, targets if targets.dtype == torch.int64 else targets.long()
    if predictions.dim() == targets.dim() + 1 and predictions.shape[-1] == 1:
        predictions = predictions.squeeze(-1)
    return predictions, targets.to(predictions.dtype)
