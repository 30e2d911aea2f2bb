"""Past a few dozen classes a confusion matrix is unreadable and slow to draw: the plot becomes a
summary (per-class accuracy, the most frequent confusions) and its title says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiforge.reporting.plots import MAX_MATRIX_CLASSES, confusion_figure, plot_confusion_matrix


def predictions_for(classes: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, classes, rows)
    predictions = np.where(rng.random(rows) < 0.7, targets, (targets + 1) % classes)
    targets[:50], predictions[:50] = (
        7 % classes,
        3 % classes,
    )  # the most frequent confusion: class 7 predicted as class 3
    return targets, predictions


def test_five_thousand_classes_draw_a_summary_not_a_matrix(tmp_path: Path) -> None:
    targets, predictions = predictions_for(5000, 20000)
    names = [f"class_{i}" for i in range(5000)]
    figure = confusion_figure(targets, predictions, names)
    assert all(not axes.images for axes in figure.axes), "a matrix image was drawn"
    ticks = sum(len(axes.get_xticks()) + len(axes.get_yticks()) for axes in figure.axes)
    assert ticks < 200  # no tick per class
    titles = " ".join(axes.get_title() for axes in figure.axes) + figure.get_suptitle()
    assert "5000 classes" in titles and "summary" in titles
    labels = [label.get_text() for axes in figure.axes for label in axes.get_yticklabels()]
    assert "class_7 → class_3" in labels, labels  # the most frequent confusion is shown
    path = plot_confusion_matrix(targets, predictions, names, tmp_path / "confusion_matrix.png")
    assert path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("classes", [3, MAX_MATRIX_CLASSES])
def test_a_few_classes_still_draw_the_full_matrix(classes: int) -> None:
    targets, predictions = predictions_for(classes, 400)
    figure = confusion_figure(targets, predictions, None)
    images = [image for axes in figure.axes for image in axes.images]
    assert len(images) == 1 and images[0].get_array().shape == (classes, classes)


def test_the_threshold_is_a_few_dozen() -> None:
    assert 30 <= MAX_MATRIX_CLASSES <= 100
