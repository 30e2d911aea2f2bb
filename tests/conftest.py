"""Fixtures for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import postgres_server as postgres_server_module
from log_capture import logged_messages


@pytest.fixture(autouse=True, scope="session")
def _no_tracking_by_default() -> Iterator[None]:
    """Tracking is on by default for users; tests turn it on only where they test it.

    Session-scoped, so that module- and session-scoped fixtures that train a run see it too,
    and set in the environment, so CLI subprocesses started by tests inherit it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIFORGE_TRACKING", "false")
        yield


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_test_process() -> Iterator[None]:
    """pytest-xdist already runs one worker per core: a second torch thread per worker (and per
    CLI subprocess, through OMP_NUM_THREADS) only makes them fight over the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The messages logged at WARNING or above while the test runs."""
    yield from logged_messages("WARNING")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres_server_module.PostgresServer]:
    """A throwaway PostgreSQL server for the session (unix socket only); skips where none is installed."""
    yield from postgres_server_module.postgres_server()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: postgres_server_module.PostgresServer) -> str:
    """A SQLAlchemy URL (postgresql+psycopg2, unix socket) of a fresh database on that server."""
    return postgres_server.new_database()
