"""Checkpoint pieces: snapshots that the training loop can no longer change, callback keys."""

from __future__ import annotations

import torch

from aiforge.core.trainer_state import callback_states, snapshot
from aiforge.utils.callbacks import Callback


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


class Counter(Callback):
    def __init__(self, count: int) -> None:
        self.count = count

    def state_dict(self) -> dict[str, int]:
        return {"count": self.count}


def test_two_callbacks_of_one_class_get_their_own_keys() -> None:
    assert callback_states([Counter(1), Callback(), Counter(2)]) == {
        "Counter": {"count": 1},
        "Callback": {},
        "Counter#1": {"count": 2},
    }
