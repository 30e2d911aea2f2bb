"""misclassified.png: a grid of wrongly predicted validation images, shown in report.html."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aiforge.core.base_model import BaseModel
from aiforge.reporting import misclassified
from aiforge.reporting.misclassified import (
    MAX_MISCLASSIFIED,
    MISCLASSIFIED_FILE,
    misclassified_rows,
    plot_misclassified,
    write_misclassified,
)
from aiforge.reporting.report import _PREDICTION_PLOTS, _figures
from aiforge.reporting.run_report import write_run_report


def batches(images: torch.Tensor, labels: torch.Tensor, size: int) -> list[dict[str, torch.Tensor]]:
    return [
        {"features": images[i : i + size], "labels": labels[i : i + size]}
        for i in range(0, len(images), size)
    ]


def test_rows_follow_the_batches_in_order():
    images = torch.arange(10).reshape(10, 1, 1, 1).expand(10, 1, 2, 2).to(torch.uint8)
    targets = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    predictions = torch.tensor([0, 2, 2, 1, 1, 2, 0, 0, 2, 1])
    found = misclassified_rows(batches(images, targets, 3), targets, predictions)
    assert found is not None
    picked, true, predicted = found
    assert [int(image[0, 0, 0]) for image in picked] == [1, 3, 7, 9]
    assert (true, predicted) == ([1, 0, 1, 0], [2, 1, 0, 1])


def test_at_most_the_limit_and_none_for_tables():
    images, targets = torch.rand(60, 3, 4, 4), torch.zeros(60, dtype=torch.long)
    found = misclassified_rows(batches(images, targets, 16), targets, torch.ones(60, dtype=torch.long))
    assert found is not None and len(found[0]) == MAX_MISCLASSIFIED
    table = torch.rand(6, 5)
    assert misclassified_rows(batches(table, targets[:6], 4), targets[:6], targets[:6] + 1) is None


@pytest.mark.parametrize(
    "images",
    [
        torch.randint(0, 256, (7, 1, 12, 12), dtype=torch.uint8),  # gray uint8
        torch.rand(7, 3, 16, 10),  # colour floats in [0, 1]
        torch.randn(7, 3, 8, 8) * 3,  # normalised floats
        torch.rand(7, 9, 9),  # [N, H, W]
    ],
)
def test_grid_is_drawn_for_gray_colour_and_float_images(tmp_path, images):
    path = plot_misclassified(list(images), [0] * 7, [1] * 7, ["cat", "dog"], tmp_path / "m.png")
    assert path == tmp_path / "m.png"
    with Image.open(path) as drawn:
        assert drawn.format == "PNG" and drawn.width > 200


def test_titles_name_true_and_predicted_classes(tmp_path, monkeypatch):
    titles: list[str] = []
    from matplotlib.axes import Axes

    original = Axes.set_title
    monkeypatch.setattr(
        Axes, "set_title", lambda self, text, **kw: (titles.append(text), original(self, text, **kw))
    )
    plot_misclassified([np.zeros((1, 4, 4))] * 2, [0, 2], [1, 0], ["cat", "dog"], tmp_path / "m.png")
    assert titles == ["cat → dog", "2 → cat"]  # a class without a name shows its index


def test_nothing_wrong_draws_nothing(tmp_path):
    images, labels = torch.rand(4, 1, 5, 5), torch.tensor([0, 1, 0, 1])
    assert write_misclassified(tmp_path, batches(images, labels, 2), labels, labels) is None
    assert not (tmp_path / MISCLASSIFIED_FILE).exists()


def test_class_names_come_from_the_label_mapping(tmp_path, monkeypatch):
    (tmp_path / "label_mapping.json").write_text('{"task": "classification", "classes": ["zero", "one"]}')
    seen = {}
    monkeypatch.setattr(misclassified, "plot_misclassified", lambda *args: seen.setdefault("names", args[3]))
    labels = torch.tensor([0, 1])
    write_misclassified(tmp_path, batches(torch.rand(2, 1, 3, 3), labels, 2), labels, 1 - labels)
    assert seen["names"] == ["zero", "one"]


def test_report_page_shows_the_grid(tmp_path):
    assert (MISCLASSIFIED_FILE, "Misclassified validation images") in _PREDICTION_PLOTS
    plot_misclassified([np.zeros((3, 4, 4))], [0], [1], None, tmp_path / MISCLASSIFIED_FILE)
    assert "Misclassified validation images (misclassified.png)" in _figures(tmp_path, _PREDICTION_PLOTS)


class Constant(BaseModel):
    """Always predicts class 0, from images."""

    def __init__(self) -> None:
        super().__init__()
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.ones(len(x)), torch.zeros(len(x))], dim=1)


def test_run_report_draws_it_from_the_raw_batches(tmp_path):
    raw = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    preprocessed = batches(raw.float() / 255, labels, 4)
    write_run_report(
        tmp_path,
        Constant(),
        preprocessed,
        "classification",
        True,
        torch.device("cpu"),
        raw_val_batches=batches(raw, labels, 4),
    )
    assert (tmp_path / MISCLASSIFIED_FILE).is_file()
