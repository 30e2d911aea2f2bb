"""A store that fails stops MLflow tracking with one warning, however many batches fail after it
(metric batches already on their way fail too, found at the next flush or at the end)."""

from __future__ import annotations

from typing import Any

import pytest

from aiforge.tracking.mlflow_callback import MLflowCallback
from log_capture import logged_messages


@pytest.fixture
def warnings() -> Any:
    yield from logged_messages("WARNING")


def test_the_second_failure_of_a_stopped_tracker_warns_no_more(warnings):
    callback = MLflowCallback("x", tracking_uri="sqlite:////tmp/nowhere/mlflow.db")
    callback._stop("sending metrics", OSError("database is locked"))
    callback._stop("sending the last metrics to MLflow", OSError("database is locked"))
    assert len([m for m in warnings if m.startswith("MLflow tracking stopped")]) == 1, warnings
    assert "sending metrics failed in the MLflow store" in warnings[0]
