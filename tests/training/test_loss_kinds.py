"""What a loss's name says (task, binary, class index, logits) is written once, in training.builders."""

from __future__ import annotations

import pytest

from aiforge.data import fitting
from aiforge.training import builders, output_checks


@pytest.mark.parametrize(
    ("loss_name", "logits"),
    [
        ("BCELoss", False),
        ("BCEWithLogitsLoss", True),
        ("CrossEntropyLoss", True),
        ("NLLLoss", True),
        ("MSELoss", True),
    ],
)
def test_outputs_are_logits_unless_the_loss_takes_probabilities(loss_name: str, logits: bool) -> None:
    assert builders.outputs_are_logits(loss_name) is logits


def test_the_loss_name_sets_have_one_home() -> None:
    assert fitting.BINARY_LOSSES is builders.BINARY_LOSSES
    assert output_checks.CLASS_INDEX_LOSSES is builders.CLASS_INDEX_LOSSES
    assert {"BCELoss", "BCEWithLogitsLoss"} == builders.BINARY_LOSSES
    assert {"CrossEntropyLoss", "NLLLoss", "MultiMarginLoss"} == builders.CLASS_INDEX_LOSSES
    assert builders.BINARY_LOSSES | builders.CLASS_INDEX_LOSSES <= builders.CLASSIFICATION_LOSSES
    assert builders.task_for_loss("NLLLoss") == "classification"
    assert builders.task_for_loss("HuberLoss") == "regression"
