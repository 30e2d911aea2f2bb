"""MetricSet: real metrics, equal to scikit-learn's on the same data fed in uneven batches, whether
torchmetrics' functional form computes them from the buffer or its collection from flushed batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from sklearn import metrics as sk

from aiforge.utils import metrics as metrics_module
from aiforge.utils.metrics import DEFAULT_METRICS, METRICS, MetricSet, check_metrics_fit_task, default_metrics

SPLITS = [10, 33, 1, 53]  # uneven batches, 97 rows
CLASSIFICATION = ["accuracy", "precision", "recall", "f1", "auroc"]


def feed(metric_set: MetricSet, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    metric_set.reset()
    for p, t in zip(predictions.split(SPLITS), targets.split(SPLITS), strict=True):
        metric_set.update(p, t)
    return metric_set.compute()


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True, params=["functional", "collection"])
def form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: all batches buffered (functional form), and each batch flushed at once."""
    if request.param == "collection":
        monkeypatch.setattr(metrics_module, "BUFFER_ELEMENTS", 1)
    return request.param


def test_multiclass_metrics_equal_sklearn(generator: torch.Generator) -> None:
    targets = torch.randint(0, 4, (97,), generator=generator)
    logits = torch.randn(97, 4, generator=generator) + 1.5 * torch.nn.functional.one_hot(targets, 4)
    values = feed(MetricSet(CLASSIFICATION, "classification", 4), logits, targets)
    predicted = logits.argmax(dim=1)
    probabilities = logits.softmax(dim=1)
    expected = {
        "accuracy": sk.accuracy_score(targets, predicted),
        "precision": sk.precision_score(targets, predicted, average="macro"),
        "recall": sk.recall_score(targets, predicted, average="macro"),
        "f1": sk.f1_score(targets, predicted, average="macro"),
        "auroc": sk.roc_auc_score(targets, probabilities, multi_class="ovr", average="macro"),
    }
    assert values == pytest.approx(expected, abs=1e-5)
    assert 0.3 < values["accuracy"] < 0.95  # neither trivial nor perfect


def test_float_class_labels_are_accepted(generator: torch.Generator) -> None:
    targets = torch.randint(0, 3, (97,), generator=generator)
    logits = torch.randn(97, 3, generator=generator)
    values = feed(MetricSet(["accuracy"], "classification", 3), logits, targets.float())
    assert values["accuracy"] == pytest.approx(sk.accuracy_score(targets, logits.argmax(dim=1)))


@pytest.mark.parametrize("shape", ["[N]", "[N,1]"])
def test_binary_single_logit_uses_sigmoid(generator: torch.Generator, shape: str) -> None:
    targets = torch.randint(0, 2, (97,), generator=generator)
    logits = torch.randn(97, generator=generator) + (targets * 2 - 1) * 0.7
    fed = logits.unsqueeze(1) if shape == "[N,1]" else logits
    values = feed(MetricSet(CLASSIFICATION, "classification", 1), fed, targets)
    probabilities = logits.sigmoid()
    predicted = (probabilities > 0.5).long()
    expected = {
        "accuracy": sk.accuracy_score(targets, predicted),
        "precision": sk.precision_score(targets, predicted),
        "recall": sk.recall_score(targets, predicted),
        "f1": sk.f1_score(targets, predicted),
        "auroc": sk.roc_auc_score(targets, probabilities),
    }
    assert values == pytest.approx(expected, abs=1e-5)
    # Logits of 0.3 and 0.2 are positive predictions; read as probabilities they would not be.
    single = MetricSet(["accuracy"], "classification", 1)
    single.update(torch.tensor([0.3, 0.2]), torch.tensor([1, 1]))
    assert single.compute()["accuracy"] == 1.0


def test_binary_probabilities_without_logits(generator: torch.Generator) -> None:
    targets = torch.randint(0, 2, (97,), generator=generator)
    probabilities = torch.rand(97, generator=generator)
    values = feed(MetricSet(["accuracy", "auroc"], "classification", 1, logits=False), probabilities, targets)
    assert values["accuracy"] == pytest.approx(sk.accuracy_score(targets, (probabilities > 0.5).long()))
    assert values["auroc"] == pytest.approx(sk.roc_auc_score(targets, probabilities), abs=1e-5)


@pytest.mark.parametrize("shape", ["[N]", "[N,1]"])
def test_regression_metrics_equal_sklearn(generator: torch.Generator, shape: str) -> None:
    targets = torch.randn(97, generator=generator) * 3 + 1
    predictions = targets + torch.randn(97, generator=generator)
    fed = predictions.unsqueeze(1) if shape == "[N,1]" else predictions
    values = feed(MetricSet(["mse", "rmse", "mae", "r2"], "regression", 1), fed, targets)
    mse = sk.mean_squared_error(targets, predictions)
    expected = {
        "mse": mse,
        "rmse": mse**0.5,
        "mae": sk.mean_absolute_error(targets, predictions),
        "r2": sk.r2_score(targets, predictions),
    }
    assert values == pytest.approx(expected, rel=1e-5)
    assert list(values) == ["mse", "rmse", "mae", "r2"]  # the configured order, in either form


def test_regression_with_integer_targets(generator: torch.Generator) -> None:
    targets = torch.randint(0, 10, (97,), generator=generator)
    predictions = targets.float() + 0.5
    values = feed(MetricSet(["mae"], "regression", 1), predictions, targets)
    assert values["mae"] == pytest.approx(0.5)


def test_reset_forgets_earlier_batches() -> None:
    metric_set = MetricSet(["accuracy"], "classification", 2)
    metric_set.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    metric_set.reset()
    metric_set.update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert metric_set.compute() == {"accuracy": 1.0}


@pytest.mark.parametrize(
    ("names", "task"), [(["accuracy", "r2"], "classification"), (["mse", "f1"], "regression")]
)
def test_metric_for_the_wrong_task_is_a_value_error(names: list[str], task: str) -> None:
    wrong = names[1]
    with pytest.raises(ValueError, match=rf"metric\(s\) \['{wrong}'\] do not apply to a {task} task"):
        MetricSet(names, task, 3)
    with pytest.raises(ValueError):
        check_metrics_fit_task(names, task)


def test_defaults_and_registry() -> None:
    assert default_metrics("classification") == ["accuracy", "f1"]
    assert default_metrics("regression") == ["mse", "mae", "r2"]
    default_metrics("regression").append("x")
    assert DEFAULT_METRICS["regression"] == ["mse", "mae", "r2"]  # a copy is returned
    assert all(METRICS[name] == task for task, names in DEFAULT_METRICS.items() for name in names)


def test_buffered_predictions_are_copies(generator: torch.Generator) -> None:
    """The model may reuse its output buffer (CUDA graphs): a later change must not reach the metric."""
    logits = torch.randn(20, 3, generator=generator)
    labels = logits.argmax(dim=1)
    metrics = MetricSet(["accuracy"], "classification", 3)
    metrics.update(logits, labels)
    logits.zero_()  # the "next call" overwrites the buffer
    labels.fill_(1)
    assert metrics.compute()["accuracy"] == 1.0


def test_each_form_is_used_where_it_applies(generator: torch.Generator, form: str) -> None:
    metric_set = MetricSet(["accuracy"], "classification", 3)
    calls: list[str] = []
    metric_set.functions["accuracy"] = _recorded(metric_set.functions["accuracy"], calls, "functional")
    metric_set.collection.update = _recorded(metric_set.collection.update, calls, "collection")
    logits = torch.randn(20, 3, generator=generator)
    metric_set.update(logits, logits.argmax(dim=1))
    assert metric_set.compute() == {"accuracy": 1.0}
    assert calls == [form]


def _recorded(function: Callable[..., Any], calls: list[str], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return function(*args, **kwargs)

    return wrapper
