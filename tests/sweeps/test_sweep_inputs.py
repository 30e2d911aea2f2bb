"""Inputs a hostile tester found: steps that do not reach the range's end, test metrics as the
objective, a plain postgresql:// URL, and a linked sweep folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aiforge.errors import AIForgeError
from aiforge.sweeps.config import IntParam, SweepConfig
from aiforge.sweeps.study import open_storage, sweep_dir, with_installed_driver

SPACE = {"training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.1}}


@pytest.mark.parametrize(("low", "high", "step", "hint"), [(4, 8, 100, "at most 4"), (4, 15, 4, "high: 12")])
def test_an_int_step_that_misses_the_end_of_the_range_is_refused(low, high, step, hint) -> None:
    with pytest.raises(ValidationError, match=hint):
        IntParam(type="int", low=low, high=high, step=step)
    assert IntParam(type="int", low=4, high=16, step=4).values() == [4, 8, 12, 16]


def test_a_test_metric_cannot_be_the_objective() -> None:
    with pytest.raises(ValidationError, match=r"held-out test metric.*val_accuracy"):
        SweepConfig(metric="test_accuracy", space=SPACE)


def test_a_plain_postgresql_url_gets_the_installed_driver() -> None:
    assert with_installed_driver("postgresql://u:p@db/optuna").startswith(
        ("postgresql+psycopg", "postgresql:")
    )
    assert with_installed_driver("postgresql+psycopg2://u@/x") == "postgresql+psycopg2://u@/x"
    assert with_installed_driver("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.slow
def test_a_plain_postgresql_url_reaches_the_server(postgres_server, tmp_path: Path) -> None:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg (3); the postgres extra installs psycopg2."""
    url = postgres_server.new_database().replace("postgresql+psycopg2://", "postgresql://", 1)
    storage = open_storage(SweepConfig(space=SPACE, storage=url), tmp_path)
    assert storage.get_all_studies() == []


def test_a_linked_sweep_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sweeps = tmp_path / "results" / "exp" / "sweeps"
    sweeps.mkdir(parents=True)
    (sweeps / "study").symlink_to(elsewhere)
    with pytest.raises(AIForgeError):
        sweep_dir(tmp_path / "results", "exp", "study")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow
def test_a_study_continued_with_another_experiment_is_refused_naming_the_key(tmp_path: Path) -> None:
    """Every trial of a study must have run the same experiment apart from the searched values."""
    from aiforge.config.settings import AppSettings
    from aiforge.errors import ConfigError
    from aiforge.sweeps import Sweep
    from plugin_builders import tiny_experiment

    settings = AppSettings(
        RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING"
    )
    sweep = {"trials": 1, "space": SPACE}
    Sweep(tiny_experiment("same_experiment"), sweep, settings=settings).run()
    longer = tiny_experiment("same_experiment")
    longer["training_config"]["epochs"] = 2
    with pytest.raises(ConfigError, match=r"experiment at training_config\.epochs \(stored 1, now 2\)"):
        Sweep(longer, {**sweep, "trials": 2}, settings=settings).run()
    # More trials of the same experiment continue the study.
    assert (
        Sweep(tiny_experiment("same_experiment"), {**sweep, "trials": 2}, settings=settings).run()[
            "trials_complete"
        ]
        == 2
    )
