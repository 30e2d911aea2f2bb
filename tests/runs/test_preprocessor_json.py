"""preprocessor.json: the fitted state's JSON values beside preprocessor.safetensors, to read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aiforge.config.model_configs import ExperimentConfig
from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.runs import files as run_files
from aiforge.runs.records import save_records


class Vocabulary(BasePreprocessor):
    def fit(self, features: Any) -> None:
        self.words = sorted(set(features))
        self.counts = torch.tensor([1.0, 2.0])

    def transform(self, data_item: Item) -> Item:
        return data_item


def test_the_json_values_of_the_state_are_written_readably(tmp_path: Path) -> None:
    preprocessor = Vocabulary()
    preprocessor.fit(["b", "a", "b"])
    config = ExperimentConfig(experiment_name="x", model_plugin="simple_nn", dataset_plugin="iris")
    save_records(tmp_path, config, None, preprocessor)
    written = json.loads((tmp_path / run_files.PREPROCESSOR_JSON_FILE).read_text())
    assert written == {"class": "Vocabulary", "state": {"words": ["a", "b"], "counts": [1.0, 2.0]}}
    assert (tmp_path / run_files.PREPROCESSOR_FILE).is_file()


def test_a_large_tensor_is_shown_by_its_shape(tmp_path: Path) -> None:
    from aiforge.runs.records import READABLE_TENSOR_VALUES, readable_state

    preprocessor = Vocabulary()
    preprocessor.fit(["a"])
    preprocessor.counts = torch.zeros(READABLE_TENSOR_VALUES + 1)
    assert readable_state(preprocessor)["state"]["counts"] == "<tensor of shape [10001], float32>"
