"""One rule for plugin code: an exception it raises ends the run with exit 1 and a message naming the
plugin and where (method, epoch, batch); an AIForgeError (DataError, ConfigError, PluginError) it raises
on purpose is the user's input being wrong: exit 2."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from aiforge.cli import main
from plugin_builders import make_folder_plugin, tiny_experiment

SIMPLE = tiny_experiment("failures")

RAISING_DATASET = """
from aiforge.core.data_pipeline import InMemoryDataset
from aiforge.errors import DataError


class Dataset(InMemoryDataset):
    def load_data(self, data_path=None, **_):
        raise {error}
"""

# Items read one by one (no as_tensors), through a preprocessor whose transform fails on row 13.
PER_ITEM_DATASET = """
import torch

from aiforge.core.data_pipeline import BaseDataset


class Dataset(BaseDataset):
    def load_data(self, data_path=None, **_):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=generator)
        self.y = (self.x.sum(dim=1) > 0).long()
        self.class_names = ["neg", "pos"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {"features": self.x[index], "labels": self.y[index], "row": index}
"""
FAILING_PREPROCESSOR = """
from aiforge.core.data_pipeline import BasePreprocessor


class Preprocessor(BasePreprocessor):
    def fit(self, features, **_):
        pass

    def transform(self, item):
        if int(item["row"]) == 13:
            raise ValueError("cannot scale row 13")
        return {"features": item["features"], "labels": item["labels"]}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIFORGE_PLUGINS_DIR", raising=False)
    return tmp_path


def plugin(root: Path, name: str, **files: str) -> str:
    """A folder plugin under a name of its own (imported plugin modules stay cached by name)."""
    name = f"{name}_{uuid.uuid4().hex[:8]}"
    make_folder_plugin(root / "plugins", name)
    for file_name, text in files.items():
        (root / "plugins" / name / file_name).write_text(text, encoding="utf-8")
    return name


def run(root: Path, config: dict, capsys, command: str = "run") -> tuple[int, str]:
    (root / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    argv = [command, "exp.yaml", "--plugins-dir", "plugins"]
    if command == "run":
        argv += ["--results-dir", str(root / "results")]
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("error", ["ValueError('bad row')", "KeyError('oops')", "FileNotFoundError('x.csv')"])
def test_an_exception_in_load_data_exits_1_naming_the_plugin(workdir: Path, capsys, error: str) -> None:
    name = plugin(workdir, "loader", **{"dataset.py": RAISING_DATASET.format(error=error)})
    code, err = run(workdir, {**SIMPLE, "dataset_plugin": name, "dataset_args": {}}, capsys)
    assert code == 1, err
    assert f"plugin '{name}'" in err and "load_data" in err
    assert error.split("(")[0] in err


def test_a_data_error_in_load_data_exits_2(workdir: Path, capsys) -> None:
    name = plugin(
        workdir, "loader", **{"dataset.py": RAISING_DATASET.format(error="DataError('rows are missing')")}
    )
    code, err = run(workdir, {**SIMPLE, "dataset_plugin": name, "dataset_args": {}}, capsys)
    assert code == 2, err
    assert "rows are missing" in err


def test_forward_with_the_wrong_batch_size_names_the_plugin_and_the_batch(workdir: Path, capsys) -> None:
    name = plugin(workdir, "short")
    model = workdir / "plugins" / name / "model.py"
    text = model.read_text(encoding="utf-8")
    model.write_text(
        text.replace("x.flatten(start_dim=1))", "x.flatten(start_dim=1))[:-1]"), encoding="utf-8"
    )
    config = {**SIMPLE, "model_plugin": name, "model_config": {}}
    for command in ("check", "run"):
        code, err = run(workdir, config, capsys, command)
        assert code in (1, 2), err
        assert not err.splitlines()[-2].startswith("error: the run failed: ValueError"), err
        assert f"model plugin '{name}'" in err, err
        assert "batch 1" in err, err


def test_a_preprocessor_failing_on_some_rows_names_the_plugin_epoch_and_batch(workdir: Path, capsys) -> None:
    name = plugin(
        workdir, "rows", **{"dataset.py": PER_ITEM_DATASET, "preprocessor.py": FAILING_PREPROCESSOR}
    )
    config = {
        **SIMPLE,
        "dataset_plugin": name,
        "dataset_args": {},
        "training_config": {"epochs": 1, "batch_size": 4},
    }
    code, err = run(workdir, config, capsys)
    assert code == 1, err
    assert f"dataset plugin '{name}'" in err and "cannot scale row 13" in err
    assert "epoch 1" in err and "batch " in err, err
