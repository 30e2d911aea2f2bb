"""A wrong output width that the loss itself rejects (CrossEntropyLoss's "Target 1 is out of bounds",
BCE's "Target size must be the same as input size", MSE's size mismatch, a batch-size mismatch) must
still be a PluginError (exit 2) naming the model plugin, not the loss's exception (exit 1): for a model
with the default steps, its forward is checked on the first batch before the loss sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from aiforge.cli import main
from aiforge.core.base_model import BaseModel
from aiforge.errors import PluginError
from aiforge.training.output_checks import check_forward
from plugin_builders import make_width_plugin, one_batch_trainer


def folder_plugin(root: Path, loss: str, outputs: str, rows: str = "", dataset: str | None = None) -> str:
    return make_width_plugin(root, loss, outputs, rows, dataset)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIFORGE_PLUGINS_DIR", raising=False)
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    return tmp_path


CASES = {
    # loss, output columns, rows slice, dataset, what the message says
    "one column, CrossEntropyLoss, 2 classes": (
        "CrossEntropyLoss",
        "1",
        "",
        None,
        ("1 output column", "2 classes"),
    ),
    "seven columns, BCEWithLogitsLoss": (
        "BCEWithLogitsLoss",
        "7",
        "",
        None,
        ("7 output columns", "1 column"),
    ),
    "seven columns, MSELoss, diabetes": ("MSELoss", "7", "", "diabetes", ("7 output columns", "MSELoss")),
    "one row short": (
        "CrossEntropyLoss",
        "model_config.output_dim",
        "[:-1]",
        None,
        ("7 rows for a batch of 8",),
    ),
    "seven columns, CrossEntropyLoss": ("CrossEntropyLoss", "7", "", None, ("7 output columns", "2 classes")),
}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_width_the_loss_rejects_exits_2_naming_the_plugin(
    workdir: Path, command: str, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loss, outputs, rows, dataset, expected = CASES[case]
    name = folder_plugin(workdir, loss, outputs, rows, dataset)
    argv = [command, "exp.yaml", "--plugins-dir", "plugins"]
    if command == "run":
        argv += ["--results-dir", str(workdir / "results")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"model plugin '{name}'" in err
    for text in expected:
        assert text in err, err
    assert "Traceback" not in err
    assert not list(workdir.glob("results/width/*"))  # refused before training: no run folder left


# --- the Trainer alone (Python API) -------------------------------------------------------------


class OneOutput(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_the_trainer_checks_its_first_batch_before_the_loss() -> None:
    """CrossEntropyLoss would raise IndexError on 1 column for 2 classes; the Trainer names the plugin."""

    trainer = one_batch_trainer(OneOutput(), "one")
    batches = [{"features": torch.randn(8, 4), "labels": torch.ones(8, dtype=torch.long)}]
    with pytest.raises(PluginError, match=r"model plugin 'one' returns 1 output column.*batch 1 of epoch 1"):
        trainer.fit(batches, batches, 1)


# --- the extra forward leaves no trace ----------------------------------------------------------


class Noisy(BaseModel):
    """Draws random numbers and has batch-norm statistics and a submodule kept in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.frozen = nn.Dropout(0.5)
        self.net = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.frozen(self.norm(x))) + torch.rand(1)


def test_the_checking_forward_changes_no_state() -> None:
    """Random numbers, batch-norm statistics and each submodule's mode are as before the check, so
    a resumed run (which checks its first batch again) stays bit-identical to an uninterrupted one."""
    model = Noisy()
    model.loss_fn = model.configure_loss_fn("CrossEntropyLoss")
    model.train()
    model.frozen.eval()  # the plugin's own choice: must survive the check
    batch = {"features": torch.randn(8, 4) * 5 + 3, "labels": torch.ones(8, dtype=torch.long)}
    buffers = {key: value.clone() for key, value in model.state_dict().items()}
    rng = torch.get_rng_state()
    check_forward(model, batch, "CrossEntropyLoss", 2, "noisy", "training batch 1 of epoch 1")
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(value, buffers[key]) for key, value in model.state_dict().items())
    assert model.training and model.norm.training and model.net.training
    assert not model.frozen.training
    assert all(p.grad is None for p in model.parameters())


def test_a_forward_that_fails_in_the_check_is_left_to_the_step() -> None:
    """The check adds refusals of a wrong width only: a forward that raises is the step's to report."""

    class Broken(OneOutput):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("broken")

    batch = {"features": torch.randn(8, 4), "labels": torch.ones(8, dtype=torch.long)}
    check_forward(Broken(), batch, "CrossEntropyLoss", 2, "broken", "training batch 1 of epoch 1")


def test_a_model_with_its_own_loss_is_not_run_twice() -> None:
    """An own-loss model decides what its predictions are: its forward is not called by the check."""
    calls: list[int] = []

    class Own(OneOutput):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(1)
            return super().forward(x)

        def compute_loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return predictions.sum()

    batch = {"features": torch.randn(8, 4), "labels": torch.ones(8, dtype=torch.long)}
    check_forward(Own(), batch, "CrossEntropyLoss", 2, "own", "training batch 1 of epoch 1")
    assert calls == []


def test_a_trainer_that_trains_calls_the_forward_no_extra_time() -> None:
    """The Trainer checks the forward apart from the loss only after its first step failed: plugins
    may count or hook their forward calls."""
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.training.trainer import Trainer
    from aiforge.utils.metrics import MetricSet

    calls: list[int] = []

    class Two(OneOutput):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(1)
            return super().forward(x)

    model = Two()
    model.loss_fn = model.configure_loss_fn("CrossEntropyLoss")
    batch = {"features": torch.randn(8, 4), "labels": torch.ones(8, dtype=torch.long)}
    trainer = Trainer(
        model,
        model.configure_optimizer("SGD", 0.1),
        TrainingConfig(epochs=1, batch_size=8),
        torch.device("cpu"),
        MetricSet(["accuracy"], "classification", 2),
        num_classes=2,
    )
    trainer.fit([batch, batch], [batch], 1)
    assert len(calls) == 3  # two training batches, one validation batch
