"""A checkpoint or weights file that does not fit the model is a CheckpointError: exit 2, as before."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from aiforge.cli import main
from aiforge.errors import AIForgeError, CheckpointError, ConfigError, DataError


class Linear(torch.nn.Linear):
    """A model named Linear, built and trained through the real Trainer (which wraps the error)."""

    def __init__(self) -> None:
        super().__init__(3, 2)
        self.loss_fn = torch.nn.CrossEntropyLoss()


def _trainer() -> object:
    from aiforge.config.model_configs import TrainingConfig
    from aiforge.training.trainer import Trainer
    from aiforge.utils.metrics import MetricSet

    model = Linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = MetricSet(["accuracy"], "classification", 2)
    return Trainer(model, optimizer, TrainingConfig(), torch.device("cpu"), metrics)  # type: ignore[arg-type]


def test_a_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path: Path) -> None:
    from aiforge.core.orchestrator import Orchestrator

    trainer = _trainer()
    state = trainer.full_state()  # type: ignore[attr-defined]
    state["model"]["extra.weight"] = torch.zeros(1)  # a key the model built now does not have
    fake = SimpleNamespace(trainer=trainer, run_dir=tmp_path, ModelClass=Linear)
    with pytest.raises(CheckpointError, match=r"does not fit the model \(Linear\): .*extra\.weight") as err:
        Orchestrator._restore_trainer(fake, state)
    assert str(err.value).startswith(f"the checkpoint in {tmp_path} does not fit the model (Linear): ")
    assert isinstance(err.value, DataError) and isinstance(err.value, ConfigError)  # as callers caught it
    assert fake.trainer is None


def test_final_weights_of_another_model_are_a_checkpoint_error(tmp_path: Path) -> None:
    from aiforge.inference_commands.loading import _load_weights

    path = tmp_path / "model.pt"
    torch.save({"other.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match=r"the weights do not fit the model built from config.yaml"):
        _load_weights(path, torch.nn.Linear(2, 2), "cpu")


def test_the_cli_exits_2_for_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert issubclass(CheckpointError, AIForgeError)

    def refuse() -> None:
        raise CheckpointError("the checkpoint in somewhere does not fit the model (Model): mismatch")

    monkeypatch.setattr("aiforge.config.loading.list_examples", refuse)
    assert main(["examples"]) == 2
    assert "error: the checkpoint in somewhere does not fit the model" in capsys.readouterr().err
