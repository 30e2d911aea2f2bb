"""A model plugin with its own training step or loss is not judged by ``training_config.loss_fn_name``.

Such a plugin may return something other than class scores as ``predictions`` (embeddings, say):
the first-batch check then only counts rows. Its run trains (exit 0).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import torch
import yaml

from aiforge.cli import main
from aiforge.core.base_model import BaseModel
from plugin_builders import make_folder_plugin

EMBEDDING_WIDTH = 5  # the plugin's data has 2 classes

OWN_STEP = '''

class Model(Model):
    """Returns a {width}-column embedding as predictions; its loss is a head's cross-entropy."""

    def __init__(self, model_config):
        super().__init__(model_config)
        self.embed = nn.Linear(model_config.input_dim, {width})
        self.head = nn.Linear({width}, 2)

    def training_step(self, batch, batch_idx):
        embedding = self.embed(batch["features"])
        loss = nn.functional.cross_entropy(self.head(embedding), batch["labels"])
        return {{"loss": loss, "predictions": embedding}}
'''


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIFORGE_PLUGINS_DIR", raising=False)
    return tmp_path


def own_step_plugin(root: Path) -> str:
    """A folder plugin (a name of its own: plugin modules stay cached by name) with its own step."""
    name = f"embed_{uuid.uuid4().hex[:8]}"
    make_folder_plugin(root / "plugins", name)
    model = root / "plugins" / name / "model.py"
    model.write_text(model.read_text(encoding="utf-8") + OWN_STEP.format(width=EMBEDDING_WIDTH))
    config = {
        "experiment_name": "embed",
        "model_plugin": name,
        "dataset_plugin": name,
        "training_config": {"epochs": 2, "batch_size": 8},  # loss_fn_name: CrossEntropyLoss, unused
    }
    (root / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return name


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_plugin_with_its_own_training_step_returns_any_width(workdir: Path, command: str, capsys) -> None:
    # Regression: predictions of 5 columns for 2 classes were exit 2 ("CrossEntropyLoss takes one
    # column per class"), though the plugin's training_step never uses that loss.
    own_step_plugin(workdir)
    argv = [command, "exp.yaml", "--plugins-dir", "plugins"]
    if command == "run":
        argv += ["--results-dir", str(workdir / "results"), "-q"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    if command == "run":
        (results,) = workdir.glob("results/embed/*/final_results.json")
        assert json.loads(results.read_text(encoding="utf-8"))["epochs_completed"] == 2
        # The metrics read predictions as class scores: that they mean little here is said, once.
        assert err.count("do not measure the classes") == 1
        assert f"returns {EMBEDDING_WIDTH} output columns" in err and "data has 2" in err


def test_regression_metrics_need_the_targets_width(workdir: Path, capsys) -> None:
    """MSE and the like compare predictions with the target: another width fails before training
    (it used to fail at the end of the first epoch with torchmetrics' shape error, exit 1)."""
    name = own_step_plugin(workdir)
    mse = ["-o", "training_config.loss_fn_name=MSELoss"]
    code = main(["run", "exp.yaml", "--plugins-dir", "plugins", *mse, "--results-dir", "results", "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"model plugin '{name}' has its own training step or loss" in err
    assert f"returns {EMBEDDING_WIDTH} output columns" in err and "target, which has 1 column" in err


def test_own_step_plugins_still_need_one_row_per_input_row() -> None:
    from aiforge.errors import PluginError
    from aiforge.training.output_checks import check_outputs

    labels = torch.zeros(8, dtype=torch.long)
    check_outputs(torch.zeros(8, 5), labels, None, 2, "embed", "training batch 1")  # any width
    with pytest.raises(PluginError, match="7 rows for a batch of 8"):
        check_outputs(torch.zeros(7, 5), labels, None, 2, "embed", "training batch 1")


class _Plain(BaseModel):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _OwnValidation(_Plain):
    def validation_step(self, batch, batch_idx):
        return super().validation_step(batch, batch_idx)


class _OwnComputeLoss(_Plain):
    def compute_loss(self, predictions, targets):
        return predictions.sum()


class _OwnLossFn(_Plain):
    def configure_loss_fn(self, loss_fn_name, **loss_fn_args):
        return torch.nn.MSELoss()


@pytest.mark.parametrize(
    ("model_class", "own"),
    [(_Plain, False), (_OwnValidation, True), (_OwnComputeLoss, True), (_OwnLossFn, True)],
)
def test_which_models_have_their_own_loss(model_class: type[BaseModel], own: bool) -> None:
    from aiforge.training.output_checks import has_own_loss

    assert has_own_loss(model_class()) is own
