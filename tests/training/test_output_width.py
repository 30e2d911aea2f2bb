"""A model plugin's output must fit the task: one row per input row, and as many columns as the loss
takes (the classes for CrossEntropyLoss, 1 for binary BCE and one-column regression, else the target's
width). ``check`` and the first training batch refuse anything else with exit 2, naming the plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aiforge.cli import main
from aiforge.errors import PluginError
from aiforge.training.output_checks import check_outputs
from plugin_builders import make_width_plugin, one_batch_trainer


def shape_check(predictions: torch.Tensor, labels: torch.Tensor, loss: str, classes: int | None) -> None:
    check_outputs(predictions, labels, loss, classes, "myplug", "training batch 1 of epoch 1")


@pytest.mark.parametrize(
    ("predictions", "labels", "loss", "classes"),
    [
        (torch.zeros(8, 2), torch.zeros(8, dtype=torch.long), "CrossEntropyLoss", 2),
        (torch.zeros(8, 5), torch.zeros(8, dtype=torch.long), "NLLLoss", 5),
        (torch.zeros(8, 1), torch.zeros(8), "BCEWithLogitsLoss", 2),
        (torch.zeros(8), torch.zeros(8), "BCEWithLogitsLoss", 2),
        (torch.zeros(8, 1), torch.zeros(8), "MSELoss", None),
        (torch.zeros(8, 3), torch.zeros(8, 3), "MSELoss", None),
        (torch.zeros(8, 2), torch.zeros(8, dtype=torch.long), "CrossEntropyLoss", None),  # classes unknown
        (torch.zeros(8, 4, 6), torch.zeros(8, 4, dtype=torch.long), "CrossEntropyLoss", 6),  # sequences
    ],
)
def test_outputs_that_fit_the_task_pass(
    predictions: torch.Tensor, labels: torch.Tensor, loss: str, classes: int | None
) -> None:
    shape_check(predictions, labels, loss, classes)


@pytest.mark.parametrize(
    ("predictions", "labels", "loss", "classes", "message"),
    [
        (
            torch.zeros(8, 7),
            torch.zeros(8, dtype=torch.long),
            "CrossEntropyLoss",
            2,
            r"7 output columns.* 2 classes",
        ),
        (
            torch.zeros(8),
            torch.zeros(8, dtype=torch.long),
            "CrossEntropyLoss",
            3,
            r"1 output column.* 3 classes",
        ),
        (
            torch.zeros(8, 2),
            torch.zeros(8),
            "BCEWithLogitsLoss",
            2,
            r"2 output columns.*BCEWithLogitsLoss.* 1",
        ),
        (torch.zeros(8, 4), torch.zeros(8), "MSELoss", None, r"4 output columns.*MSELoss.* 1"),
        (torch.zeros(8, 1), torch.zeros(8, 3), "L1Loss", None, r"1 output column.*L1Loss.* 3"),
        (
            torch.zeros(7, 2),
            torch.zeros(8, dtype=torch.long),
            "CrossEntropyLoss",
            2,
            r"7 rows for a batch of 8",
        ),
        (torch.zeros(1), torch.zeros(8), "MSELoss", None, r"1 rows for a batch of 8"),  # MSE would broadcast
    ],
)
def test_outputs_that_do_not_fit_name_the_plugin_and_the_batch(
    predictions: torch.Tensor, labels: torch.Tensor, loss: str, classes: int | None, message: str
) -> None:
    with pytest.raises(PluginError, match=message) as info:
        shape_check(predictions, labels, loss, classes)
    assert "model plugin 'myplug'" in str(info.value)
    assert "training batch 1 of epoch 1" in str(info.value)


# --- through the command line, with a folder plugin whose forward returns 7 columns ------------------


def folder_plugin(root: Path, loss: str, outputs: str = "model_config.output_dim") -> str:
    """A folder plugin whose model's last layer has ``outputs`` columns, trained on its 2-class data."""
    return make_width_plugin(root, loss, outputs, experiment="seven")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIFORGE_PLUGINS_DIR", raising=False)
    return tmp_path


# 7 columns for 2 classes through check and run: test_output_width_before_loss.py's CASES.


def test_binary_bce_with_one_column_passes_check(workdir: Path, capsys) -> None:
    folder_plugin(workdir, "BCEWithLogitsLoss")
    code = main(["check", "exp.yaml", "--plugins-dir", "plugins"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "'output_dim': 1" in captured.out


def test_the_trainer_checks_its_first_batch() -> None:
    """The Trainer alone (Python API), given the class count, refuses a 7-column model."""
    from aiforge.core.base_model import BaseModel

    class Seven(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 7)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    trainer = one_batch_trainer(Seven(), "seven")
    batches = [{"features": torch.randn(8, 4), "labels": torch.randint(0, 2, (8,))}]
    with pytest.raises(
        PluginError, match=r"model plugin 'seven' returns 7 output columns.*batch 1 of epoch 1"
    ):
        trainer.fit(batches, batches, 1)
