"""Checkpoint pieces: snapshots that the training loop can no longer change.

The callbacks' keys are tested through ``Trainer.full_state`` in test_trainer.py."""

from __future__ import annotations

import torch

from aiforge.training.checkpoint import snapshot


def test_a_snapshot_copies_every_tensor_and_keeps_the_structure() -> None:
    live = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}],
    }
    copied = snapshot(live)
    live["state"][0]["exp_avg"].add_(5)
    live["param_groups"][0]["params"].append(1)
    assert torch.equal(copied["state"][0]["exp_avg"], torch.ones(2))
    assert copied["param_groups"][0] == {"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}
    assert isinstance(copied["param_groups"][0]["betas"], tuple)
