"""Fixtures for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_tracking_by_default() -> Iterator[None]:
    """Tracking is on by default for users; tests turn it on only where they test it.

    Session-scoped, so that module- and session-scoped fixtures that train a run see it too,
    and set in the environment, so CLI subprocesses started by tests inherit it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIFORGE_TRACKING", "false")
        yield
