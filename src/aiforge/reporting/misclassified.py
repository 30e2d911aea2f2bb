"""A grid of the validation images a classifier got wrong, ``true → predicted``, for report.html."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiforge.reporting.plots import class_indices, pair_of, read_json, save_figure
from aiforge.runs import files as run_files

MISCLASSIFIED_FILE = "misclassified.png"
MAX_MISCLASSIFIED = 25


def misclassified_rows(
    raw_batches: Any, targets: Any, predictions: Any, limit: int = MAX_MISCLASSIFIED
) -> tuple[list[Any], list[int], list[int]] | None:
    """The first ``limit`` validation images whose prediction is wrong, with true and predicted classes.

    ``raw_batches`` are the validation batches as stored (before preprocessing), in the order of
    ``targets``/``predictions``. None when their features are not images ([N, C, H, W] with C 1
    or 3, or [N, H, W]): then there is nothing to draw.
    """
    true, predicted = pair_of(targets, predictions)
    true, predicted = class_indices(true, "targets"), class_indices(predicted, "predictions")
    images: list[Any] = []
    rows_true: list[int] = []
    rows_predicted: list[int] = []
    start = 0
    for batch in raw_batches:
        features = batch["features"]
        if not _is_image_batch(features):
            return None
        stop = start + len(features)
        for offset in np.flatnonzero(true[start:stop] != predicted[start:stop])[: limit - len(images)]:
            images.append(features[int(offset)])
            rows_true.append(int(true[start + offset]))
            rows_predicted.append(int(predicted[start + offset]))
        start = stop
        if len(images) >= limit or start >= true.size:
            break
    return images, rows_true, rows_predicted


def plot_misclassified(
    images: Sequence[Any],
    targets: Sequence[int],
    predictions: Sequence[int],
    class_names: Sequence[str] | None,
    path: Path,
) -> Path | None:
    """A grid of up to MAX_MISCLASSIFIED images titled ``true → predicted``; None when there are none.

    Images are uint8 (0-255) or float, each [C, H, W] with C 1 (drawn in gray) or 3, or [H, W];
    float images outside [0, 1] (normalised ones) are stretched to their own range.
    """
    from matplotlib.figure import Figure

    shown = list(zip(images, targets, predictions, strict=True))[:MAX_MISCLASSIFIED]
    if not shown:
        return None
    names = [str(name) for name in class_names or []]

    def name(index: int) -> str:
        return names[index] if 0 <= index < len(names) else str(index)

    columns = min(5, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(2.0 * columns, 2.2 * rows + 0.4), layout="constrained")
    for index, (image, true, predicted) in enumerate(shown):
        axes = figure.add_subplot(rows, columns, index + 1)
        pixels = _displayable(image)
        axes.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0.0, vmax=1.0)
        axes.set_title(f"{name(true)} → {name(predicted)}", fontsize=9, color="tab:red")
        axes.set_axis_off()
    figure.suptitle(f"Misclassified validation images (first {len(shown)}; true → predicted)")
    return save_figure(figure, path)


def write_misclassified(
    run_dir: Path, raw_batches: Any, targets: Any, predictions: Any, class_names: Sequence[str] | None = None
) -> Path | None:
    """``misclassified.png`` in the run folder when the validation features are images and some
    are predicted wrong; class names default to ``label_mapping.json``'s."""
    found = misclassified_rows(raw_batches, targets, predictions)
    if found is None:
        return None
    if class_names is None:
        class_names = read_json(Path(run_dir) / run_files.LABELS_FILE).get("classes")
    return plot_misclassified(*found, class_names, Path(run_dir) / MISCLASSIFIED_FILE)


def _is_image_batch(features: Any) -> bool:
    """Images ``[N, C, H, W]`` with 1 or 3 channels; a sequence or table of 3 dimensions is not one."""
    shape = tuple(getattr(features, "shape", ()))
    return len(shape) == 4 and shape[1] in (1, 3)


def _displayable(image: Any) -> np.ndarray:
    """One image as floats in [0, 1], [H, W] (gray) or [H, W, 3]."""
    if hasattr(image, "detach"):
        image = image.detach().cpu()
        image = image.float() if image.is_floating_point() else image
        image = image.numpy()
    pixels = np.asarray(image)
    if pixels.ndim == 3:
        pixels = pixels[0] if pixels.shape[0] == 1 else np.moveaxis(pixels, 0, -1)
    if pixels.dtype.kind in "ui":
        return pixels.astype(float) / 255.0
    pixels = np.nan_to_num(pixels.astype(float))
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0.0 or high > 1.0:
        pixels = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    return pixels
