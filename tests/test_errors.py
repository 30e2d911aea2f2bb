"""The user-facing exception family and the did-you-mean hint."""

from __future__ import annotations

import pytest

import aiforge.errors as errors
from aiforge.errors import AIForgeError, ConfigError, DataError, PluginError, did_you_mean


def test_did_you_mean_suggests_the_closest_choice() -> None:
    assert did_you_mean("learning_rat", ["batch_size", "learning_rate", "epochs"]) == (
        " (did you mean 'learning_rate'?)"
    )
    assert did_you_mean("Adamm", ["SGD", "Adam", "AdamW"]) == " (did you mean 'Adam'?)"


def test_did_you_mean_is_empty_when_nothing_is_close() -> None:
    assert did_you_mean("zzzz", ["learning_rate", "epochs"]) == ""
    assert did_you_mean("anything", []) == ""


def test_did_you_mean_accepts_any_iterable_once() -> None:
    choices = (name for name in ["hidden_dim", "output_dim"])  # a generator is consumed only once
    assert did_you_mean("hiden_dim", choices) == " (did you mean 'hidden_dim'?)"
    assert did_you_mean("simpel_nn", {"simple_nn": 1, "digits": 2}) == " (did you mean 'simple_nn'?)"


@pytest.mark.parametrize("cls", [ConfigError, PluginError, DataError])
def test_user_errors_share_one_base(cls: type[Exception]) -> None:
    assert issubclass(cls, AIForgeError)
    assert issubclass(AIForgeError, Exception)
    # Not ValueError: pydantic would swallow a ValueError raised inside a validator.
    assert not issubclass(cls, ValueError)
    with pytest.raises(AIForgeError, match=r"^bad input$"):
        raise cls("bad input")


def test_error_classes_are_distinct_and_public() -> None:
    import aiforge

    assert not issubclass(ConfigError, PluginError) and not issubclass(PluginError, ConfigError)
    assert not issubclass(DataError, (ConfigError, PluginError))
    for name in ("AIForgeError", "ConfigError", "PluginError", "DataError"):
        assert getattr(aiforge, name) is getattr(errors, name)
