"""Whether a model plugin's predictions fit the task, checked on one batch before training relies on
them: one row per input row, and as many columns as the loss takes. A wrong width often trains
without an error (CrossEntropyLoss takes 7 columns for 2 classes) and then loses the class names."""

from __future__ import annotations

from typing import Any

from aiforge.errors import PluginError

# Losses whose target is a class index: one output column per class.
CLASS_INDEX_LOSSES = frozenset({"CrossEntropyLoss", "NLLLoss", "MultiMarginLoss"})


def check_outputs(
    predictions: Any, labels: Any, loss_name: str, num_classes: int | None, plugin: str, where: str
) -> None:
    """Raise a PluginError naming ``plugin`` and ``where`` when ``predictions`` cannot be right.

    Outputs of more than two dimensions (sequences, images) are the plugin's own business: only
    their rows are checked. ``num_classes`` None leaves a class-index loss's width unchecked.
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
    if predictions.dim() > 2 or labels.dim() > 2:
        return
    width = shape[1] if predictions.dim() == 2 else 1
    if loss_name in CLASS_INDEX_LOSSES:
        if num_classes is None or (width == num_classes and predictions.dim() == 2):
            return
        expected = num_classes
        why = f"the data has {num_classes} classes and {loss_name} takes one column per class"
    else:
        expected = labels.shape[1] if labels.dim() == 2 else 1
        if width == expected:
            return
        if loss_name in ("BCELoss", "BCEWithLogitsLoss") and expected == 1:
            why = f"{loss_name} on binary labels takes 1 column (the score of class 1)"
        else:
            why = f"{loss_name} compares it with the target, which has {_columns(expected)}"
    raise PluginError(
        f"model plugin '{plugin}' returns {_columns(width, 'output ')} on {where}, but {why}; "
        f"the model's last layer must have {expected} output{'s' * (expected != 1)} "
        "(model_config.output_dim is filled in from the data when the config leaves it out)"
    )


def _columns(count: int, kind: str = "") -> str:
    return f"{count} {kind}column{'s' * (count != 1)}"
