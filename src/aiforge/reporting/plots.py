"""Pictures of a run as PNG files: learning curves, a confusion matrix, predicted vs true.

matplotlib is imported only inside the functions that draw. They use its object-oriented
API (``Figure`` rendered by the Agg canvas) and never pyplot: no display is needed, no
global figure list grows, and a notebook's own pyplot backend is left as it was.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiforge.runs import files as run_files
from aiforge.runtime.log import logger

LOSS_CURVES_FILE = "loss_curves.png"
METRIC_CURVES_FILE = "metric_curves.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
PRED_VS_TRUE_FILE = "pred_vs_true.png"
RESIDUALS_FILE = "residuals.png"
PREDICTIONS_FILE = "val_predictions.csv"

_MAX_ANNOTATED_CLASSES = 30  # past this, cell counts no longer fit in the cells
MAX_MATRIX_CLASSES = 50  # past this, a matrix is unreadable (and K x K cells slow): a summary instead
_TOP_CONFUSIONS = 20


# -- reading and writing what the plots are drawn from ---------------------------------------
def read_history(path: Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` as floats; a blank or unreadable cell becomes NaN."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            {key: _to_float(value) for key, value in row.items() if key} for row in csv.DictReader(handle)
        ]


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from the run folder; ``{}`` when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.warning(f"{path} cannot be read, so it is ignored: {err}")
        return {}
    return data if isinstance(data, dict) else {}


def write_predictions(path: Path, targets: Any, predictions: Any) -> None:
    """``val_predictions.csv``: one row per validation value, columns target and prediction."""
    target_values, predicted_values = pair_of(targets, predictions)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["target", "prediction"])
    writer.writerows(zip(target_values.tolist(), predicted_values.tolist(), strict=True))
    run_files.write_text(path, buffer.getvalue())


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions saved by :func:`write_predictions`."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"target", "prediction"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: expected the columns target,prediction, found {reader.fieldnames}")
        rows = [(_to_float(row["target"]), _to_float(row["prediction"])) for row in reader]
    array = np.array(rows, dtype=float).reshape(-1, 2)
    return array[:, 0], array[:, 1]


# -- the plots -------------------------------------------------------------------------------
def plot_curves(history_csv: Path, out_dir: Path, best_epoch: int | None = None) -> list[Path]:
    """``loss_curves.png`` (train vs validation loss) and ``metric_curves.png`` (val_* metrics).

    The metric plot is skipped when the history has no validation metric; ``best_epoch``,
    when given, is marked on both.
    """
    rows = read_history(history_csv)
    if not rows:
        return []
    epochs = [row.get("epoch", index + 1) for index, row in enumerate(rows)]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    plans = [
        (out_dir / LOSS_CURVES_FILE, "Loss: train vs validation", "loss", ["train_loss", "val_loss"]),
        (
            out_dir / METRIC_CURVES_FILE,
            "Validation metrics",
            "value",
            [c for c in columns if c.startswith("val_") and c != "val_loss"],
        ),
    ]
    written = []
    for path, title, ylabel, wanted in plans:
        present = [c for c in wanted if c in columns]
        if present:
            series = {_curve_label(c): [row.get(c, math.nan) for row in rows] for c in present}
            written.append(_draw_curves(path, title, ylabel, epochs, series, best_epoch))
    return written


def confusion_counts(targets: Any, predictions: Any, num_classes: int = 0) -> np.ndarray:
    """``counts[true, predicted]``, at least ``num_classes`` square (more if a larger index occurs)."""
    true, predicted = pair_of(targets, predictions)
    true, predicted = class_indices(true, "targets"), class_indices(predicted, "predictions")
    size = max(num_classes, int(max(true.max(), predicted.max())) + 1 if true.size else 0)
    return np.bincount(true * size + predicted, minlength=size * size).reshape(size, size)


def plot_confusion_matrix(
    targets: Any, predictions: Any, class_names: Sequence[str] | None, path: Path
) -> Path:
    """The confusion matrix, or past MAX_MATRIX_CLASSES classes its summary (see confusion_figure)."""
    return save_figure(confusion_figure(targets, predictions, class_names), path)


def confusion_figure(targets: Any, predictions: Any, class_names: Sequence[str] | None) -> Any:
    """A matrix of counts coloured by the share of each true class (rows sum to 1); past
    MAX_MATRIX_CLASSES classes, a summary that never builds the K x K table."""
    names = [str(name) for name in class_names or []]
    true, predicted = pair_of(targets, predictions)
    true, predicted = class_indices(true, "targets"), class_indices(predicted, "predictions")
    size = max(len(names), int(max(true.max(), predicted.max())) + 1 if true.size else 0)
    if size > MAX_MATRIX_CLASSES:
        return _confusion_summary(true, predicted, names + [str(i) for i in range(len(names), size)])
    return _confusion_matrix_figure(true, predicted, names)


def _confusion_matrix_figure(targets: np.ndarray, predictions: np.ndarray, names: list[str]) -> Any:
    from matplotlib.figure import Figure

    counts = confusion_counts(targets, predictions, len(names))
    if counts.sum() == 0:
        raise ValueError("no predictions to draw a confusion matrix from")
    size = counts.shape[0]
    names += [str(index) for index in range(len(names), size)]
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)

    side = min(max(4.5, 0.45 * size + 2.5), 16.0)
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the true class")
    if max(map(len, names)) > 3:  # long names would overlap side by side
        axes.set_xticks(range(size), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    else:
        axes.set_xticks(range(size), labels=names)
    axes.set_yticks(range(size), labels=names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = np.trace(counts) / counts.sum()
    axes.set_title(f"Confusion matrix (validation, {counts.sum()} rows, accuracy {accuracy:.1%})")
    if size <= _MAX_ANNOTATED_CLASSES:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=9)
    return figure


def _confusion_summary(true: np.ndarray, predicted: np.ndarray, names: list[str]) -> Any:
    """Too many classes for a matrix: how per-class accuracy spreads, and the most frequent
    confusions (true -> predicted), counted from the pairs alone (never a K x K table)."""
    from matplotlib.figure import Figure

    if true.size == 0:
        raise ValueError("no predictions to draw a confusion matrix from")
    size = len(names)
    correct = true == predicted
    rows_per_class = np.bincount(true, minlength=size)
    right_per_class = np.bincount(true[correct], minlength=size)
    seen = rows_per_class > 0
    accuracy_per_class = right_per_class[seen] / rows_per_class[seen]
    pairs, pair_counts = np.unique(
        np.stack([true[~correct], predicted[~correct]]), axis=1, return_counts=True
    )
    order = np.argsort(-pair_counts, kind="stable")[:_TOP_CONFUSIONS]

    figure = Figure(figsize=(12.0, 6.0), layout="constrained")
    spread, confused = figure.subplots(1, 2, width_ratios=[1, 1.3])
    spread.hist(accuracy_per_class, bins=20, range=(0.0, 1.0), color="tab:blue")
    spread.set_xlabel("accuracy of the class (share of its rows predicted right)")
    spread.set_ylabel("classes")
    spread.set_title(f"Per-class accuracy ({int(seen.sum())} classes with rows)")
    labels = [f"{names[pairs[0, i]]} → {names[pairs[1, i]]}" for i in order][::-1]
    confused.barh(range(len(labels)), pair_counts[order][::-1], color="tab:red")
    confused.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    confused.set_xlabel("rows")
    confused.set_title(f"The {len(labels)} most frequent confusions (true → predicted)")
    accuracy = correct.mean()
    figure.suptitle(
        f"Confusion summary (validation, {true.size} rows, accuracy {accuracy:.1%}): {size} classes "
        f"are too many for a matrix (more than {MAX_MATRIX_CLASSES})"
    )
    return figure


def plot_regression(
    targets: Any, predictions: Any, path_pred_vs_true: Path, path_residuals: Path
) -> list[Path]:
    """A predicted-vs-true scatter with the identity line, and residuals (true - predicted)."""
    from matplotlib.figure import Figure

    true, predicted = (values.astype(float) for values in pair_of(targets, predictions))
    finite = np.isfinite(true) & np.isfinite(predicted)
    true, predicted = true[finite], predicted[finite]
    if true.size == 0:
        raise ValueError("no finite predictions to draw")
    dropped = f", {int((~finite).sum())} non-finite left out" if not finite.all() else ""
    residuals = true - predicted

    figure = Figure(figsize=(5.5, 5.5), layout="constrained")
    axes = figure.add_subplot()
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    margin = (high - low) * 0.05 or 1.0
    limits = (low - margin, high + margin)
    axes.plot(limits, limits, linestyle="--", color="grey", linewidth=1, label="perfect prediction")
    axes.scatter(true, predicted, s=14, alpha=0.7, label="validation rows")
    axes.set_xlim(limits)
    axes.set_ylim(limits)
    axes.set_aspect("equal")
    axes.set_xlabel("true value")
    axes.set_ylabel("predicted value")
    spread = float(((true - true.mean()) ** 2).sum())
    r2 = f", R² {1 - float((residuals**2).sum()) / spread:.3f}" if spread > 0 else ""
    axes.set_title(f"Predicted vs true (validation, {true.size} rows{r2}{dropped})")
    axes.legend(loc="upper left")
    written = [save_figure(figure, path_pred_vs_true)]

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    axes.axhline(0.0, linestyle="--", color="grey", linewidth=1)
    axes.scatter(predicted, residuals, s=14, alpha=0.7)
    axes.set_xlabel("predicted value")
    axes.set_ylabel("residual (true - predicted)")
    axes.set_title(f"Residuals (validation, mean {residuals.mean():.3g}, std {residuals.std():.3g}{dropped})")
    written.append(save_figure(figure, path_residuals))
    return written


def write_run_plots(
    run_dir: Path,
    targets: Any = None,
    predictions: Any = None,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
    overwrite: bool = True,
) -> list[Path]:
    """Every plot the run folder's files allow, plus ``val_predictions.csv`` when predictions are given.

    Args:
        targets, predictions: validation values (class indices for classification). When
            left out, those saved in ``val_predictions.csv`` are used, if any.
        task, class_names: default to ``final_results.json`` and ``label_mapping.json``.
        overwrite: False draws only the plots whose files are missing.

    Returns:
        The PNG files drawn.
    """
    run_dir = Path(run_dir)
    results = read_json(run_dir / run_files.RESULTS_FILE)
    labels = read_json(run_dir / run_files.LABELS_FILE)
    task = task or results.get("task") or labels.get("task")
    class_names = class_names or labels.get("classes")

    def wanted(*names: str) -> bool:
        return overwrite or not all((run_dir / name).exists() for name in names)

    written: list[Path] = []
    history = run_dir / run_files.HISTORY_FILE
    if history.exists() and wanted(LOSS_CURVES_FILE, METRIC_CURVES_FILE):
        written += plot_curves(history, run_dir, results.get("best_epoch"))

    if (targets is None) != (predictions is None):
        raise ValueError("give both targets and predictions, or neither")
    saved = run_dir / PREDICTIONS_FILE
    if targets is not None:
        write_predictions(saved, targets, predictions)
    elif saved.exists():
        targets, predictions = read_predictions(saved)
    else:
        return written

    if task == "classification":
        if wanted(CONFUSION_MATRIX_FILE):
            path = run_dir / CONFUSION_MATRIX_FILE
            written.append(plot_confusion_matrix(targets, predictions, class_names, path))
    elif task == "regression":
        if wanted(PRED_VS_TRUE_FILE, RESIDUALS_FILE):
            written += plot_regression(
                targets, predictions, run_dir / PRED_VS_TRUE_FILE, run_dir / RESIDUALS_FILE
            )
    else:
        logger.warning(f"{run_dir}: the task is not recorded, so the prediction plots are left out")
    return written


# -- helpers ---------------------------------------------------------------------------------


def _draw_curves(
    path: Path,
    title: str,
    ylabel: str,
    epochs: list[float],
    series: dict[str, list[float]],
    best_epoch: int | None,
) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for label, values in series.items():
        axes.plot(epochs, values, marker="o", markersize=3, label=label)
    if best_epoch:
        axes.axvline(
            best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})"
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, path)


def _curve_label(column: str) -> str:
    return {"train_loss": "train", "val_loss": "validation"}.get(column, column.removeprefix("val_"))


def save_figure(figure: Any, path: Path) -> Path:
    """Rendered by Agg (the PNG default of a bare ``Figure``); the temp file's suffix is not
    ``.png``, hence ``format``."""
    with run_files.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return Path(path)


def pair_of(targets: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both as flat numpy arrays of one length (tensors, arrays and lists are accepted)."""
    true, predicted = _flat(targets), _flat(predictions)
    if true.size != predicted.size:
        raise ValueError(
            f"targets and predictions have {true.size} and {predicted.size} values; "
            "for classification, pass class indices, not scores"
        )
    return true, predicted


def _flat(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, perhaps on a GPU or in bfloat16
        values = values.detach().cpu()
        values = (values.double() if values.is_floating_point() else values).numpy()
    return np.asarray(values).reshape(-1)


def class_indices(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind in "iub":
        indices = values.astype(np.int64)
    else:
        indices = np.nan_to_num(values.astype(float), nan=-1.0).astype(np.int64)
        wrong = values[indices != values]
        if wrong.size:
            raise ValueError(f"{name} must be class indices (whole numbers), got {float(wrong[0])}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"{name} must be class indices, got the negative index {indices.min()}")
    return indices


def _to_float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan
