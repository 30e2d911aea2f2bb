"""CheckpointError is still caught where its message used to be a DataError or a ConfigError."""

from __future__ import annotations

import pytest

import aiforge
from aiforge.errors import AIForgeError, CheckpointError, ConfigError, DataError


@pytest.mark.parametrize("old", [DataError, ConfigError, AIForgeError])
def test_callers_that_caught_the_old_class_still_catch_it(old: type[Exception]) -> None:
    """A resume mismatch was a DataError (Orchestrator._restore_trainer), weights that do not fit
    a ConfigError (load_run): code written against either still catches it."""
    try:
        raise CheckpointError("the checkpoint in somewhere does not fit the model (Model): mismatch")
    except old as err:
        assert isinstance(err, CheckpointError)


def test_it_is_exported_beside_the_other_errors() -> None:
    assert "CheckpointError" in aiforge.__all__
    assert aiforge.CheckpointError is CheckpointError
