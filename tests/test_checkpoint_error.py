"""A checkpoint or weights file that does not fit the model is a CheckpointError: exit 2, as before."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from aiforge.cli import main
from aiforge.errors import AIForgeError, CheckpointError, ConfigError, DataError


class _Trainer:
    def load_full_state(self, state: dict) -> None:
        raise RuntimeError('Unexpected key(s) in state_dict: "extra.weight".')


def test_a_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path: Path) -> None:
    from aiforge.core.orchestrator import Orchestrator

    fake = SimpleNamespace(trainer=_Trainer(), run_dir=tmp_path, ModelClass=torch.nn.Linear)
    with pytest.raises(CheckpointError, match=r"does not fit the model \(Linear\): .*extra\.weight") as err:
        Orchestrator._restore_trainer(fake, {"model": {}})
    assert not isinstance(err.value, (DataError, ConfigError))
    assert fake.trainer is None


def test_final_weights_of_another_model_are_a_checkpoint_error(tmp_path: Path) -> None:
    from aiforge.inference_commands.loading import _load_weights

    path = tmp_path / "model.pt"
    torch.save({"other.weight": torch.zeros(2, 2)}, path)
    fake = SimpleNamespace(model=torch.nn.Linear(2, 2), device="cpu")
    with pytest.raises(CheckpointError, match=r"the weights do not fit the model built from config.yaml"):
        _load_weights(path, fake)


def test_the_cli_exits_2_for_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert issubclass(CheckpointError, AIForgeError)

    def refuse() -> None:
        raise CheckpointError("the checkpoint in somewhere does not fit the model (Model): mismatch")

    monkeypatch.setattr("aiforge.config.loading.list_examples", refuse)
    assert main(["examples"]) == 2
    assert "error: the checkpoint in somewhere does not fit the model" in capsys.readouterr().err
