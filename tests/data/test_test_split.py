"""The held-out test split: taken out before the train/validation split, seeded, disjoint."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from aiforge.config.loading import build_experiment_config
from aiforge.config.model_configs import ExperimentConfig
from aiforge.core.data_pipeline import split_indices, split_with_test
from aiforge.errors import ConfigError, DataError
from aiforge.runs.records import config_record

BASE = {"model_plugin": "simple_nn", "dataset_plugin": "iris"}


@pytest.mark.parametrize("count", [10, 150, 1797])
def test_three_way_split_is_disjoint_complete_and_sized(count):
    train, val, test = split_with_test(count, 0.2, 0.25, seed=7)
    together = torch.cat([train, val, test])
    assert sorted(together.tolist()) == list(range(count))  # disjoint and complete
    assert len(test) == round(count * 0.25)
    assert len(val) == round(count * 0.2)  # a share of all rows, as without a test split


def test_three_way_split_is_deterministic_and_follows_the_seed():
    first = split_with_test(150, 0.2, 0.2, seed=3)
    again = split_with_test(150, 0.2, 0.2, seed=3)
    other = split_with_test(150, 0.2, 0.2, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[2], other[2])


def test_without_test_rows_the_split_is_todays():
    train, val, test = split_with_test(150, 0.2, 0.0, seed=42)
    today = split_indices(150, 0.2, 42)
    assert torch.equal(train, today[0]) and torch.equal(val, today[1])
    assert len(test) == 0


def test_too_few_rows_for_a_test_split_is_a_data_error():
    with pytest.raises(DataError, match="test_fraction"):
        split_with_test(3, 0.4, 0.1, seed=0)  # round(0.3) == 0 test rows


def test_config_defaults_leave_the_record_as_today():
    config = ExperimentConfig(**BASE)
    assert config.test_fraction == 0.0 and config.test_data_path is None
    record = config_record(config)
    assert "test_fraction" not in record and "test_data_path" not in record
    record = config_record(ExperimentConfig(**BASE, test_fraction=0.1))
    assert record["test_fraction"] == 0.1


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_test_fraction_range(value):
    with pytest.raises(ConfigError, match="test_fraction"):
        build_experiment_config({**BASE, "test_fraction": value})


def test_fractions_that_leave_no_training_rows_name_both_keys():
    with pytest.raises(ConfigError) as caught:
        build_experiment_config({**BASE, "test_fraction": 0.5, "val_fraction": 0.5})
    assert "test_fraction" in str(caught.value) and "val_fraction" in str(caught.value)
    with pytest.raises(ValidationError, match="val_fraction"):
        ExperimentConfig(**BASE, test_fraction=0.6, val_fraction=0.4)


def test_test_data_path_and_test_fraction_exclude_each_other():
    with pytest.raises(ConfigError) as caught:
        build_experiment_config({**BASE, "test_fraction": 0.2, "test_data_path": "test.csv"})
    assert "test_data_path" in str(caught.value) and "test_fraction" in str(caught.value)


def test_test_data_path_is_checked_like_data_path():
    with pytest.raises(ConfigError, match="test_data_path"):
        build_experiment_config({**BASE, "test_data_path": "bad\x00name.csv"})
