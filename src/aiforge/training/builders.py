"""Optimizers, losses and LR schedulers looked up by name in torch."""

from __future__ import annotations

import inspect
from typing import Any

from aiforge.config.class_paths import import_class, is_dotted
from aiforge.errors import ArgumentError, did_you_mean


def _lookup(namespace: Any, name: str, bases: tuple[type, ...], what: str) -> type:
    """The public subclass of ``bases`` called ``name`` in ``namespace`` (bases[0] itself excluded)."""

    def usable(obj: Any) -> bool:
        return inspect.isclass(obj) and issubclass(obj, bases) and obj is not bases[0]

    found = getattr(namespace, name, None)
    if name.startswith("_") or not usable(found):
        choices = sorted(n for n, obj in vars(namespace).items() if not n.startswith("_") and usable(obj))
        raise ValueError(
            f"unknown {what} '{name}'{did_you_mean(name, choices)}; available: {', '.join(choices)}"
        )
    return found


def optimizer_class(name: str) -> type:
    """A ``torch.optim`` optimizer class by name, or any Optimizer subclass by dotted path."""
    import torch

    if is_dotted(name):
        alternative = "name a torch.optim optimizer without a dot (e.g. AdamW)"
        return import_class(name, (torch.optim.Optimizer,), "optimizer", alternative)
    return _lookup(torch.optim, name, (torch.optim.Optimizer,), "optimizer")


def loss_class(name: str) -> type:
    """A ``torch.nn`` loss class by name, or any ``nn.Module`` loss by dotted path (it need not
    subclass torch's private ``_Loss``)."""
    from torch import nn
    from torch.nn.modules.loss import _Loss

    if is_dotted(name):
        alternative = "name a torch.nn loss without a dot (e.g. CrossEntropyLoss)"
        return import_class(name, (nn.Module,), "loss function", alternative)
    return _lookup(nn, name, (_Loss,), "loss function")


def scheduler_class(name: str) -> type:
    """A ``torch.optim.lr_scheduler`` class by name (ReduceLROnPlateau included), or a subclass of
    LRScheduler or ReduceLROnPlateau by dotted path."""
    from torch.optim import lr_scheduler

    bases = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)
    if is_dotted(name):
        alternative = "name a torch.optim.lr_scheduler class without a dot (e.g. StepLR)"
        return import_class(name, bases, "LR scheduler", alternative)
    return _lookup(lr_scheduler, name, bases, "LR scheduler")


# What a loss's name says about the model's outputs and labels, written once here.
BINARY_LOSSES = frozenset({"BCELoss", "BCEWithLogitsLoss"})  # labels 0/1, one output column
CLASS_INDEX_LOSSES = frozenset({"CrossEntropyLoss", "NLLLoss", "MultiMarginLoss"})  # a column per class
PROBABILITY_LOSSES = frozenset({"BCELoss"})  # takes probabilities: the model's outputs are not logits
MULTI_LABEL_AND_MARGIN_LOSSES = frozenset(
    {"MultiLabelSoftMarginLoss", "MultiLabelMarginLoss", "SoftMarginLoss", "HingeEmbeddingLoss"}
)
CLASSIFICATION_LOSSES = BINARY_LOSSES | CLASS_INDEX_LOSSES | MULTI_LABEL_AND_MARGIN_LOSSES


def loss_kind(loss_name: str) -> str:
    """The torch loss that ``loss_name`` behaves as, for the task, label and output checks.

    A name without a dot is itself. A loss class by dotted path is the first torch.nn loss among
    its bases (a subclass of CrossEntropyLoss counts as CrossEntropyLoss); a class attribute
    ``task = "classification"`` makes any other class count as CrossEntropyLoss (a column per
    class, integer labels, logits), ``task = "regression"`` as a regression loss; otherwise a
    custom loss is a regression loss comparing outputs with targets of the same shape.
    """
    if not is_dotted(loss_name):
        return loss_name
    from torch import nn

    cls = loss_class(loss_name)
    base = next(
        (
            c.__name__
            for c in cls.__mro__
            if c.__module__.startswith("torch.nn")
            and getattr(nn, c.__name__, None) is c
            and c is not nn.Module
        ),
        None,
    )
    task = getattr(cls, "task", None)
    if task == "classification":
        return base if base in CLASSIFICATION_LOSSES else "CrossEntropyLoss"
    if task == "regression" or base is None:
        return loss_name
    return base


def task_for_loss(loss_name: str) -> str:
    """'classification' or 'regression', inferred from the loss, which fixes label dtype and metrics."""
    return "classification" if loss_kind(loss_name) in CLASSIFICATION_LOSSES else "regression"


def outputs_are_logits(loss_name: str) -> bool:
    """Whether the model's outputs are logits (sigmoid/softmax still to apply), as the loss takes
    them: all but BCELoss, which takes probabilities (so a binary threshold is 0.5, not 0)."""
    return loss_kind(loss_name) not in PROBABILITY_LOSSES


def build_optimizer(parameters: Any, name: str, learning_rate: float, **kwargs: Any) -> Any:
    """Instantiate an optimizer; bad keyword arguments become a clear ValueError.

    Adam and AdamW use torch's fused kernel where it takes the parameters (see
    :mod:`aiforge.training.optimizer_kernels`); ``fused: false`` (or ``foreach``) in
    ``optimizer_args`` or in a param group keeps torch's own choice.
    """
    from aiforge.training.optimizer_kernels import choose_fused, readable_twice

    cls = _refused_as_argument_error(optimizer_class, name)
    parameters = readable_twice(parameters)  # checked, and maybe tried twice
    if choose_fused(name, parameters, kwargs):
        try:
            return cls(parameters, lr=learning_rate, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass  # this torch has no such fused kernel, or the kwargs are bad: reported below
    try:
        return cls(parameters, lr=learning_rate, **kwargs)
    except TypeError as err:
        raise ArgumentError(f"optimizer {name} does not accept {kwargs}: {err}") from None


_TENSOR_LOSS_ARGS = ("weight", "pos_weight")


def build_loss(name: str, **kwargs: Any) -> Any:
    """Instantiate a loss; class weights given as lists (from YAML) become tensors."""
    import torch

    cls = _refused_as_argument_error(loss_class, name)
    kwargs = {
        k: torch.as_tensor(v, dtype=torch.float32) if k in _TENSOR_LOSS_ARGS and isinstance(v, list) else v
        for k, v in kwargs.items()
    }
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ArgumentError(f"loss {name} does not accept {kwargs}: {err}") from None


def _refused_as_argument_error(lookup: Any, name: str) -> type:
    """``lookup(name)``; an unknown name is an ArgumentError (exit 2 when a plugin's method asked)."""
    try:
        return lookup(name)
    except ArgumentError:
        raise
    except ValueError as err:
        raise ArgumentError(str(err)) from None


def build_scheduler(optimizer: Any, name: str, args: dict[str, Any], monitor_mode: str) -> Any:
    """An LR scheduler by name; ReduceLROnPlateau's ``mode`` follows the monitor unless given."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    cls = scheduler_class(name)
    args = dict(args)
    if issubclass(cls, ReduceLROnPlateau) and "mode" not in args:
        args["mode"] = monitor_mode  # a score must rise, a loss must fall
    return cls(optimizer, **args)
