"""Fixtures for the tracking-store tests: a clean MLflow environment, logs, a refusing port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from log_capture import logged_messages


@pytest.fixture
def tracking_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, tracking on, MLflow's own retries cut to none (so that the old
    behaviour fails these tests at once instead of after minutes)."""
    for name in list(os.environ):
        if name.upper().startswith(("AIFORGE_", "MLFLOW_")):
            monkeypatch.delenv(name)
    # An earlier test's mlflow.set_tracking_uri() lives on in MLflow's module state.
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setenv("AIFORGE_TRACKING", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def infos() -> Iterator[list[str]]:
    """The messages logged at INFO or above while the test runs."""
    yield from logged_messages("INFO")


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port held by this test and not listening: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _wandb_forgets_its_settings() -> Iterator[None]:
    """wandb keeps process-wide settings (mode, API key, server) from its first init; a test that
    ran it online must not decide how the next one runs."""
    yield
    import sys

    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()
