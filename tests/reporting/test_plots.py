"""Run plots: curves, confusion matrix and regression PNGs, drawn from tiny hand-made run folders."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from aiforge.reporting.plots import (
    confusion_counts,
    plot_confusion_matrix,
    plot_curves,
    plot_regression,
    read_predictions,
    write_run_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["cat", "dog", "bird"]


def assert_png(path: Path) -> tuple[int, ...]:
    """A real PNG image: the signature, and matplotlib can read it back."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    shape = imread(path).shape
    assert len(shape) == 3 and shape[0] > 100 and shape[1] > 100, shape
    return shape


def write_history(path: Path, columns: list[str], rows: list[list[float]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def fake_run(root: Path, task: str = "classification") -> Path:
    """metrics.csv (3 epochs), final_results.json and, for classification, label_mapping.json."""
    run_dir = root / "exp" / "20240101-000000-abcdef"
    run_dir.mkdir(parents=True)
    metric = "accuracy" if task == "classification" else "mae"
    write_history(
        run_dir / "metrics.csv",
        ["epoch", "train_loss", "val_loss", f"val_{metric}", "lr"],
        [[1, 1.0, 0.9, 0.5, 0.01], [2, 0.7, 0.6, 0.7, 0.01], [3, 0.5, 0.65, 0.8, 0.01]],
    )
    results = {"experiment_name": "exp", "task": task, "best_epoch": 2, "monitor": "val_loss"}
    (run_dir / "final_results.json").write_text(json.dumps(results), encoding="utf-8")
    if task == "classification":
        labels = {"task": task, "classes": CLASSES}
        (run_dir / "label_mapping.json").write_text(json.dumps(labels), encoding="utf-8")
    return run_dir


def test_curves_are_pngs_for_loss_and_validation_metrics(tmp_path):
    run_dir = fake_run(tmp_path)
    written = plot_curves(run_dir / "metrics.csv", run_dir, best_epoch=2)
    assert written == [run_dir / "loss_curves.png", run_dir / "metric_curves.png"]
    for path in written:
        assert_png(path)
    assert not list(run_dir.glob("*.tmp")), "no temporary file is left behind"


def test_metric_curves_are_skipped_without_validation_metrics(tmp_path):
    history = write_history(tmp_path / "metrics.csv", ["epoch", "train_loss", "val_loss"], [[1, 1.0, 0.9]])
    assert plot_curves(history, tmp_path) == [tmp_path / "loss_curves.png"]
    assert_png(tmp_path / "loss_curves.png")


def test_confusion_counts_equal_sklearn():
    rng = np.random.default_rng(0)
    targets, predictions = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = confusion_matrix(targets, predictions, labels=range(4))
    np.testing.assert_array_equal(confusion_counts(targets, predictions, 4), expected)
    # Tensors work too, and an unseen class still gets its row and column.
    counts = confusion_counts(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), num_classes=3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    ("targets", "predictions", "message"),
    [
        ([0, 1], [0, 1, 1], "targets and predictions have 2 and 3 values"),
        ([0, 1], [[0.2, 0.8], [0.9, 0.1]], "pass class indices, not scores"),
        ([0.0, 1.5], [0, 1], r"targets must be class indices \(whole numbers\), got 1.5"),
        ([0, 1], [0, -1], "predictions must be class indices, got the negative index -1"),
    ],
)
def test_confusion_counts_reject_what_is_not_class_indices(targets, predictions, message):
    with pytest.raises(ValueError, match=message):
        confusion_counts(targets, predictions)


def test_confusion_matrix_png(tmp_path):
    path = plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], CLASSES, tmp_path / "cm.png")
    assert path == tmp_path / "cm.png"
    assert_png(path)
    with pytest.raises(ValueError, match="no predictions"):
        plot_confusion_matrix([], [], CLASSES, tmp_path / "empty.png")


def test_regression_pngs(tmp_path):
    targets = torch.linspace(0, 1, 20)
    predictions = targets + 0.1 * torch.randn(20, generator=torch.Generator().manual_seed(0))
    written = plot_regression(targets, predictions, tmp_path / "pvt.png", tmp_path / "res.png")
    assert written == [tmp_path / "pvt.png", tmp_path / "res.png"]
    for path in written:
        assert_png(path)
    with pytest.raises(ValueError, match="no finite predictions"):
        plot_regression([1.0], [float("nan")], tmp_path / "a.png", tmp_path / "b.png")


def test_run_plots_for_classification_save_the_predictions(tmp_path):
    run_dir = fake_run(tmp_path)
    targets, predictions = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 1, 2, 1])
    written = write_run_plots(run_dir, targets, predictions)
    assert [p.name for p in written] == ["loss_curves.png", "metric_curves.png", "confusion_matrix.png"]
    for path in written:
        assert_png(path)
    lines = (run_dir / "val_predictions.csv").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["target,prediction", "0,0"]
    saved_targets, saved_predictions = read_predictions(run_dir / "val_predictions.csv")
    np.testing.assert_array_equal(saved_targets, targets.numpy())
    np.testing.assert_array_equal(saved_predictions, predictions.numpy())


def test_run_plots_for_regression(tmp_path):
    run_dir = fake_run(tmp_path, task="regression")
    targets = np.linspace(-1.0, 1.0, 12)
    written = write_run_plots(run_dir, targets, targets[::-1] * 0.5)
    assert {p.name for p in written} == {
        "loss_curves.png",
        "metric_curves.png",
        "pred_vs_true.png",
        "residuals.png",
    }
    assert not (run_dir / "confusion_matrix.png").exists()
    saved_targets, _ = read_predictions(run_dir / "val_predictions.csv")
    np.testing.assert_allclose(saved_targets, targets)


def test_run_plots_are_redrawn_from_saved_predictions_only_when_missing(tmp_path):
    run_dir = fake_run(tmp_path)
    write_run_plots(run_dir, [0, 1, 2], [0, 1, 1])
    (run_dir / "confusion_matrix.png").unlink()
    assert [p.name for p in write_run_plots(run_dir, overwrite=False)] == ["confusion_matrix.png"]
    assert_png(run_dir / "confusion_matrix.png")
    assert write_run_plots(run_dir, overwrite=False) == []


def test_run_plots_need_both_targets_and_predictions(tmp_path):
    with pytest.raises(ValueError, match="give both targets and predictions, or neither"):
        write_run_plots(fake_run(tmp_path), targets=[0, 1])


def test_importing_reporting_does_not_import_matplotlib(tmp_path):
    code = (
        "import sys, aiforge.reporting, aiforge.cli.report, aiforge.reporting.report\n"
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
