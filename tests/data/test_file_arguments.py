"""Files named in dataset_args/preprocess_args (keys ending in _file) are recorded as absolute
paths, like data_path: a run's config.yaml must name them from wherever predict is started."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aiforge.config.loading import load_experiment_config
from aiforge.data.loading import resolve_file_arguments


def test_a_relative_file_found_here_or_in_the_data_dir_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tok.json").write_text("{}")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "vocab_file.txt").write_text("a")
    arguments = {"tokenizer_file": "tok.json", "extra_file": "vocab_file.txt", "name": "tok.json"}
    resolved = resolve_file_arguments(arguments, data_dir)
    assert resolved == {
        "tokenizer_file": str(tmp_path / "tok.json"),
        "extra_file": str(data_dir / "vocab_file.txt"),
        "name": "tok.json",  # not a *_file key: left as it is
    }
    assert resolve_file_arguments({"tokenizer_file": "missing.json"}, data_dir) is None  # the plugin says why
    assert resolve_file_arguments({"tokenizer_file": 3}, data_dir) is None


def test_a_file_beside_the_config_file_is_found_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tok.json").write_text("{}")
    config = {
        "experiment_name": "x",
        "model_plugin": "text_classifier",
        "dataset_plugin": "text",
        "preprocess_args": {"tokenizer_file": "tok.json", "max_length": 8},
    }
    (project / "exp.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    loaded = load_experiment_config(project / "exp.yaml")
    assert loaded.preprocess_args == {"tokenizer_file": str(project / "tok.json"), "max_length": 8}
