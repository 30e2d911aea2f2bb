"""The sweep: section's schema, the search space applied to a config, and its checks."""

from __future__ import annotations

import pytest

from aiforge.config.loading import build_experiment_config
from aiforge.errors import ConfigError
from aiforge.sweeps.config import SweepConfig
from aiforge.sweeps.loading import sweep_config
from aiforge.sweeps.space import apply_params, check_space, distributions, trial_config
from plugin_builders import tiny_experiment

LR = {"training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}


def test_defaults_and_direction_follow_the_metric() -> None:
    sweep = SweepConfig(space=LR)
    assert (sweep.metric, sweep.resolved_direction, sweep.sampler, sweep.pruner) == (
        "val_loss",
        "minimize",
        "tpe",
        "none",
    )
    assert SweepConfig(space=LR, metric="accuracy").metric == "val_accuracy"
    assert SweepConfig(space=LR, metric="accuracy").resolved_direction == "maximize"
    assert SweepConfig(space=LR, metric="val_mae").resolved_direction == "minimize"
    assert SweepConfig(space=LR, metric="accuracy", direction="minimize").resolved_direction == "minimize"


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        ({"space": {"a.b": {"type": "float", "low": 1.0, "high": 1.0}}}, "sweep.space.a.b: empty range"),
        ({"space": {"a.b": {"type": "int", "low": 5, "high": 2}}}, "sweep.space.a.b: empty range"),
        ({"space": {"a.b": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}}, "needs low > 0"),
        ({"space": {"a.b": {"type": "categorical", "choices": []}}}, "sweep.space.a.b.choices"),
        (
            {"space": {"a.b": {"type": "float", "low": 0.1, "high": 1.0, "step": 2}}},
            "sweep.space.a.b.step: unknown",
        ),
        ({"space": {"a.b": {"type": "normal", "low": 0, "high": 1}}}, "sweep.space.a.b"),
        ({"space": {}}, "sweep.space"),
        ({"space": LR, "trials": 0}, "sweep.trials"),
        ({"space": LR, "trails": 3}, "sweep.trails: unknown key"),
        ({"space": LR, "sampler": "grid"}, "sampler grid needs a finite list"),
        ({"space": LR, "study_name": "../x"}, "sweep.study_name"),
        ({"trials": 3}, "sweep.space: required key is missing"),
    ],
)
def test_bad_sweep_sections_name_the_key(sweep: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match="invalid sweep config") as info:
        sweep_config(sweep, "f.yaml")
    assert expected in str(info.value)


def test_apply_params_sets_key_paths_on_a_copy() -> None:
    base = tiny_experiment("x")
    data = apply_params(
        base, {"training_config.learning_rate": 0.01, "model_config.hidden_dim": 4, "seed": 3}
    )
    assert data["training_config"]["learning_rate"] == 0.01
    assert data["model_config"]["hidden_dim"] == 4 and data["seed"] == 3
    assert "learning_rate" not in base["training_config"] and base["model_config"]["hidden_dim"] == 8
    config = trial_config(base, {"model_config.hidden_dim": 4}, "t")
    assert config.model_specific_config.hidden_dim == 4
    with pytest.raises(ConfigError, match=r"sweep\.space\.seed\.x: 'seed' is 42"):
        apply_params({"seed": 42}, {"seed.x": 1})


def test_distributions_match_the_space() -> None:
    sweep = SweepConfig(
        space={
            **LR,
            "model_config.hidden_dim": {"type": "int", "low": 4, "high": 12, "step": 4},
            "training_config.optimizer_name": {"type": "categorical", "choices": ["Adam", "SGD"]},
        },
    )
    dists = distributions(sweep)
    assert dists["training_config.learning_rate"].log is True
    assert dists["model_config.hidden_dim"].step == 4
    assert dists["training_config.optimizer_name"].choices == ("Adam", "SGD")
    grid = SweepConfig(
        space={"model_config.hidden_dim": {"type": "int", "low": 4, "high": 12, "step": 4}}, sampler="grid"
    )
    assert grid.grid() == {"model_config.hidden_dim": [4, 8, 12]}


def _check(space: dict, **sweep: object) -> None:
    base = tiny_experiment("x")
    check_space(base, build_experiment_config(base), SweepConfig(space=space, **sweep))


@pytest.mark.parametrize(
    ("space", "sweep", "expected"),
    [
        (
            {"training_config.learnin_rate": {"type": "float", "low": 0.01, "high": 0.1}},
            {},
            "sweep.space.training_config.learnin_rate",
        ),
        ({"model_config.width": {"type": "int", "low": 2, "high": 4}}, {}, "sweep.space.model_config.width"),
        (
            {"model_config.hidden_dim": {"type": "int", "low": 0, "high": 4}},
            {},
            "sweep.space.model_config.hidden_dim: the value 0",
        ),
        (
            {"training_config.optimizer_name": {"type": "categorical", "choices": ["Adam", "Adamm"]}},
            {},
            "sweep.space.training_config.optimizer_name: the value 'Adamm'",
        ),
        ({"seed": {"type": "int", "low": 1, "high": 3}}, {"metric": "val_r2"}, "sweep.metric: 'val_r2'"),
        (
            {"seed": {"type": "int", "low": 1, "high": 3}},
            {"sampler": "grid", "trials": 4},
            "only 3 combinations",
        ),
    ],
)
def test_a_bad_space_is_refused_before_any_trial(space: dict, sweep: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        _check(space, **sweep)
    assert expected in str(info.value)


def test_a_good_space_passes() -> None:
    _check(
        {**LR, "model_config.hidden_dim": {"type": "int", "low": 4, "high": 12, "step": 4}}, metric="accuracy"
    )
