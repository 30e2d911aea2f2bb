"""Whether a model plugin's predictions fit the task, checked on one batch before training relies on
them: one row per input row, and as many columns as the loss takes. A wrong width often trains
without an error (CrossEntropyLoss takes 7 columns for 2 classes) and then loses the class names.

The columns are judged against ``training_config.loss_fn_name`` only when the model uses it the
default way; a plugin with its own ``training_step``, ``validation_step``, ``compute_loss`` or
``configure_loss_fn`` decides what its predictions are (embeddings, say), so only its rows are
checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiforge.errors import PluginError
from aiforge.training.builders import BINARY_LOSSES, CLASS_INDEX_LOSSES, loss_kind

# The BaseModel methods through which the default steps apply training_config.loss_fn_name.
LOSS_METHODS = ("training_step", "validation_step", "compute_loss", "configure_loss_fn")


def has_own_loss(model: Any) -> bool:
    """Whether ``model`` (a BaseModel, possibly compiled) overrides a method the default loss goes through."""
    from aiforge.core.base_model import BaseModel

    model_class = type(getattr(model, "_orig_mod", model))
    return any(getattr(model_class, name, None) is not getattr(BaseModel, name) for name in LOSS_METHODS)


def loss_to_judge(model: Any, loss_name: str) -> str | None:
    """``loss_name`` for :func:`check_outputs`, or None (rows only) for a model with its own loss."""
    return None if has_own_loss(model) else loss_name


def check_outputs(
    predictions: Any, labels: Any, loss_name: str | None, num_classes: int | None, plugin: str, where: str
) -> None:
    """Raise a PluginError naming ``plugin`` and ``where`` when ``predictions`` cannot be right.

    Outputs of more than two dimensions (sequences, images) are the plugin's own business: only
    their rows are checked. ``num_classes`` None leaves a class-index loss's width unchecked;
    ``loss_name`` None (a model with its own loss, see :func:`loss_to_judge`) every width.
    """
    import torch

    if not isinstance(predictions, torch.Tensor) or not isinstance(labels, torch.Tensor):
        return
    if predictions.dim() == 0 or labels.dim() == 0:
        return
    shape = list(predictions.shape)
    rows = labels.shape[0]
    if shape[0] != rows:
        raise PluginError(
            f"model plugin '{plugin}' returned predictions of shape {shape}, {shape[0]} rows for a batch "
            f"of {rows}, on {where}; its forward must return one row per input row"
        )
    if loss_name is None or predictions.dim() > 2 or labels.dim() > 2:
        return
    width = shape[1] if predictions.dim() == 2 else 1
    kind = loss_kind(loss_name)  # a custom loss by dotted path: the torch loss it behaves as
    if kind in CLASS_INDEX_LOSSES:
        if num_classes is None or (width == num_classes and predictions.dim() == 2):
            return
        expected = num_classes
        why = f"the data has {num_classes} classes and {loss_name} takes one column per class"
    else:
        expected = labels.shape[1] if labels.dim() == 2 else 1
        if width == expected:
            return
        if kind in BINARY_LOSSES and expected == 1:
            why = f"{loss_name} on binary labels takes 1 column (the score of class 1)"
        else:
            why = f"{loss_name} compares it with the target, which has {_columns(expected)}"
    raise PluginError(
        f"model plugin '{plugin}' returns {_columns(width, 'output ')} on {where}, but {why}; "
        f"the model's last layer must have {expected} output{'s' * (expected != 1)} "
        "(model_config.output_dim is filled in from the data when the config leaves it out)"
    )


def check_step_outputs(
    model: Any,
    outputs: dict[str, Any],
    batch: Any,
    loss_name: str,
    num_classes: int | None,
    plugin: str,
    where: str,
) -> None:
    """:func:`check_outputs` on what a training step of ``model`` returned for ``batch``: the Trainer
    checks its first batch this way, before any optimizer step relies on the predictions."""
    predictions, labels = outputs.get("predictions"), batch.get("labels")
    check_outputs(predictions, labels, loss_to_judge(model, loss_name), num_classes, plugin, where)


def metrics_problem(
    predictions: Any, labels: Any, task: str, num_classes: int | None, metrics: list[str], plugin: str
) -> str | None:
    """For a model with its own loss, whose width :func:`check_outputs` leaves alone: can the
    metrics read its predictions?

    Regression metrics compare them with the target element by element: another width is a
    PluginError (it would fail at the end of the first epoch). Classification metrics read them as
    class scores: another width than the class count still computes, so the answer is a warning
    to log (the metrics then do not measure the classes), or None.
    """
    import torch

    if not isinstance(predictions, torch.Tensor) or not isinstance(labels, torch.Tensor):
        return None
    if predictions.dim() == 0 or predictions.dim() > 2 or labels.dim() == 0 or labels.dim() > 2:
        return None
    width = predictions.shape[1] if predictions.dim() == 2 else 1
    names = ", ".join(metrics)
    own = (
        f"model plugin '{plugin}' has its own training step or loss and returns {_columns(width, 'output ')}"
    )
    if task == "regression":
        expected = labels.shape[1] if labels.dim() == 2 else 1
        if width != expected:
            raise PluginError(
                f"{own}, but the metrics ({names}) compare its predictions with the target, which has "
                f"{_columns(expected)}; return predictions of the target's width as 'predictions' "
                "(other outputs under another key)"
            )
        return None
    if num_classes is None or width == num_classes or (width == 1 and num_classes == 2):
        return None
    return (
        f"{own} as predictions; the metrics ({names}) read them as scores of {width} classes, but the "
        f"data has {num_classes}, so they do not measure the classes. Return one column per class as "
        "'predictions' (other outputs under another key) for metrics that mean something"
    )


def _columns(count: int, kind: str = "") -> str:
    return f"{count} {kind}column{'s' * (count != 1)}"


def check_forward(
    model: Any,
    batch: Any,
    loss_name: str,
    num_classes: int | None,
    plugin: str,
    where: str,
    run: Callable[..., Any] | None = None,
) -> None:
    """:func:`check_outputs` on ``model``'s forward of ``batch["features"]``, apart from the loss: a
    width the loss rejects itself (CrossEntropyLoss's "Target 1 is out of bounds", a size mismatch)
    is then still a PluginError naming the plugin, not the loss's exception. ``check`` and the
    validation batch before training call it before the step; the Trainer only after its first
    step failed (a run that trains calls its forward no extra time).

    Only for a model with the default steps (what they pass the loss is its forward's output); a
    model with its own loss is judged on what its step returns. ``run(function, *args)`` calls the
    forward (autocast, say). The forward leaves no trace, so fresh and resumed runs stay
    bit-identical: eval mode (no batch-norm statistics updated), no gradients, random-number state
    restored, each submodule's mode restored. A forward that raises here is left to the step,
    which reports it as it always did.
    """
    if has_own_loss(model) or not isinstance(batch, dict) or "features" not in batch:
        return
    predictions = _traceless_forward(model, batch["features"], run)
    check_outputs(predictions, batch.get("labels"), loss_name, num_classes, plugin, where)


def _traceless_forward(model: Any, features: Any, run: Callable[..., Any] | None) -> Any:
    """``model(features)`` with no effect on the model, the gradients or the random numbers; None
    when it raises."""
    import torch

    modes = [(module, module.training) for module in model.modules()]
    device = features.device if isinstance(features, torch.Tensor) else torch.device("cpu")
    on_device = {"devices": [device.index or 0], "device_type": device.type} if device.type != "cpu" else {}
    try:
        with torch.random.fork_rng(**({"devices": []} | on_device)), torch.no_grad():
            model.eval()
            return run(model, features) if run is not None else model(features)
    except Exception:  # the step runs next and reports it with the step's own context
        return None
    finally:
        for module, training in modes:
            module.training = training
