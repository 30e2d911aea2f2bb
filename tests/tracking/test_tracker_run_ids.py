"""Under torchrun, rank 0's tracked-run ids reach the other ranks in one collective call."""

from __future__ import annotations

from typing import Any

from aiforge.tracking import trackers as trackers_module
from aiforge.tracking.csv_tracker import CSVTracker
from aiforge.tracking.tensorboard_tracker import TensorBoardTracker


def test_every_tracker_s_run_id_is_shared_in_one_broadcast(monkeypatch):
    calls: list[Any] = []

    def broadcast(value: Any) -> Any:
        calls.append(value)
        return ["run-a", None]  # what rank 0 holds

    tracked = [CSVTracker(), TensorBoardTracker()]
    monkeypatch.setattr("aiforge.runtime.distributed.is_initialized", lambda: True)
    monkeypatch.setattr("aiforge.runtime.distributed.broadcast_object", broadcast)
    trackers_module.share_run_ids(tracked)
    assert calls == [[None, None]]  # once, for both (one has no run id at all)
    assert [tracker.run_id for tracker in tracked] == ["run-a", None]


def test_no_trackers_no_collective(monkeypatch):
    calls: list[Any] = []
    monkeypatch.setattr("aiforge.runtime.distributed.is_initialized", lambda: True)
    monkeypatch.setattr("aiforge.runtime.distributed.broadcast_object", calls.append)
    trackers_module.share_run_ids([])
    assert calls == []
