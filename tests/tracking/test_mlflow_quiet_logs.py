"""MLflow's own INFO lines (a new SQLite store's table creation, a new experiment) go to the debug
log, not the terminal: `-q` shows only warnings, errors and the summary. Its warnings stay visible."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from aiforge.tracking.mlflow_logs import mlflow_errors_to_debug_log
from aiforge.tracking.store_check import prepare_store, set_experiment
from log_capture import logged_messages


@pytest.fixture
def debug_lines() -> Iterator[list[str]]:
    yield from logged_messages("DEBUG")


def test_a_fresh_sqlite_store_s_info_lines_reach_only_the_debug_log(tracking_workdir, capfd, debug_lines):
    uri = f"sqlite:///{tracking_workdir / 'fresh.db'}"
    prepare_store(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    with mlflow_errors_to_debug_log():
        set_experiment(uri, "brand_new")
    printed = capfd.readouterr().err  # MLflow's own handler writes "<time> INFO <logger>: <text>"
    assert "INFO mlflow.store.db.utils: Creating initial MLflow database tables" not in printed
    assert "INFO mlflow.tracking.fluent: Experiment with name 'brand_new' does not exist" not in printed
    assert any("Creating initial MLflow database tables" in line for line in debug_lines)


def test_mlflow_s_warnings_stay_visible(tracking_workdir, capfd):
    import mlflow  # noqa: F401  (its stderr handler)

    with mlflow_errors_to_debug_log():
        logging.getLogger("mlflow.tracking.fluent").warning("a warning users must see")
        logging.getLogger("mlflow.tracking.fluent").info("an info line for the debug log")
    printed = capfd.readouterr().err
    assert "WARNING mlflow.tracking.fluent: a warning users must see" in printed
    assert "INFO mlflow.tracking.fluent: an info line" not in printed
