"""A sweep's progress: the display's rendering (no terminal needed), the one log line per finished
trial, and ``--progress/--no-progress``."""

from __future__ import annotations

import io
from typing import Any

import pytest

from aiforge.sweeps.config import SweepConfig
from aiforge.sweeps.progress import render, tally, trial_line

SPACE = {
    "training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
    "model_config.hidden_dim": {"type": "int", "low": 4, "high": 12, "step": 4},
}


def _trial(number: int, state: str, value: float | None = None, **attrs: Any) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import FrozenTrial, TrialState

    lr, width = 0.001 * (number + 1), 4 + 4 * (number % 3)
    return FrozenTrial(
        number=number,
        state=TrialState[state],
        value=value,
        datetime_start=None,
        datetime_complete=None,
        params={"training_config.learning_rate": lr, "model_config.hidden_dim": width},
        distributions={
            "training_config.learning_rate": FloatDistribution(0.001, 0.1, log=True),
            "model_config.hidden_dim": IntDistribution(4, 12, step=4),
        },
        user_attrs=attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def _text(renderable: Any, width: int = 120) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


TRIALS = [
    _trial(0, "COMPLETE", 0.8),
    _trial(1, "COMPLETE", 0.9),
    _trial(2, "PRUNED"),
    _trial(3, "FAIL"),
    _trial(4, "FAIL", surplus=True),  # asked when enough trials were under way: not a failure
    _trial(5, "RUNNING"),
    _trial(6, "RUNNING"),
]


def test_the_display_shows_states_and_the_best_so_far() -> None:
    sweep = SweepConfig(trials=6, metric="accuracy", space=SPACE)
    assert tally(TRIALS) == {"complete": 2, "pruned": 1, "running": 2, "failed": 1}
    text = _text(render("lr_width", sweep, TRIALS))
    assert "sweep 'lr_width'" in text and "3/6 trials" in text
    assert "done 2  running 2  pruned 1  failed 1" in text
    assert "best val_accuracy 0.9 (trial 1): training_config.learning_rate=0.002" in text
    assert "model_config.hidden_dim=8" in text


def test_the_display_before_any_trial_finished_and_when_minimising() -> None:
    sweep = SweepConfig(trials=4, space=SPACE)  # val_loss: minimised
    assert "best val_loss: none yet" in _text(render("s", sweep, [_trial(0, "RUNNING")]))
    text = _text(render("s", sweep, [_trial(0, "COMPLETE", 0.5), _trial(1, "COMPLETE", 0.2)]), width=60)
    assert "best val_loss 0.2 (trial 1)" in text and "2/4 trials" in text


def test_one_log_line_per_finished_trial() -> None:
    record = {"best_value": 0.91234, "best_trial": 1, "best_params": {"model_config.hidden_dim": 8}}
    line = trial_line(3, "COMPLETE", "val_accuracy", 0.8765, record, 4, 6)
    assert line == (
        "sweep: trial 3 COMPLETE val_accuracy 0.8765 | 4/6 finished "
        "| best 0.9123 (trial 1, {'model_config.hidden_dim': 8})"
    )
    assert trial_line(0, "PRUNED", "val_loss", None, {"best_value": None}, 1, 6) == (
        "sweep: trial 0 PRUNED | 1/6 finished | best none yet"
    )


@pytest.mark.parametrize(("flag", "expected"), [("--progress", True), ("--no-progress", False), (None, None)])
def test_the_progress_flag(flag: str | None, expected: bool | None) -> None:
    from aiforge.cli import build_parser

    args = ["sweep", "file.yaml", *([flag] if flag else [])]
    assert build_parser().parse_args(args).progress is expected
