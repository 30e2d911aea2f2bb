"""config_record: keys at their default that older runs never had are left out, so an old run
resumes (its checkpoints hold the record it wrote) and config.yaml shows what was chosen."""

from __future__ import annotations

from aiforge.config.model_configs import ExperimentConfig
from aiforge.runs.records import config_record


def config(**model: object) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_name="x", model_plugin="simple_nn", dataset_plugin="tabular", model_config=model
    )


def test_simple_nn_embedding_keys_are_recorded_only_when_set() -> None:
    plain = config_record(config(hidden_dim=8))["model_config"]
    assert "embedding_cardinalities" not in plain and "embedding_dim" not in plain
    embedded = config_record(config(embedding_cardinalities=[42], embedding_dim=4))["model_config"]
    assert embedded["embedding_cardinalities"] == [42] and embedded["embedding_dim"] == 4
    assert "test_fraction" not in config_record(config())
