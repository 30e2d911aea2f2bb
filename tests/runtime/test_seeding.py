"""Seeding and RNG states: saved with a checkpoint, loaded safely, and the same draws after a restore."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from aiforge.runtime.seeding import (
    every_rank_rng_states,
    own_rng_states,
    restore_rng_states,
    rng_states,
    seed_everything,
)


def draws() -> dict[str, Any]:
    """Some numbers from every global generator, including the cached second normal of each."""
    return {
        "python": [random.random(), random.gauss(0.0, 1.0), random.randint(0, 10**9)],
        "numpy": [np.random.rand(3).tolist(), np.random.randn(3).tolist(), int(np.random.randint(10**9))],
        "torch": [torch.rand(3), torch.randn(3), torch.randint(10**9, (2,))],
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["python"] == b["python"]
    assert a["numpy"] == b["numpy"]
    for x, y in zip(a["torch"], b["torch"], strict=True):
        assert torch.equal(x, y)


def save_and_load(state: dict[str, Any], path: Path) -> dict[str, Any]:
    torch.save(state, path)
    return torch.load(path, weights_only=True)


def test_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    seed_everything(3)
    draws()
    # An odd number of normals leaves a cached Gaussian in python's and numpy's legacy generators.
    random.gauss(0.0, 1.0)
    np.random.randn(1)
    state = save_and_load(rng_states(), tmp_path / "rng.pt")
    expected = draws()
    seed_everything(99)  # anything else in between
    draws()
    restore_rng_states(state)
    assert_same(draws(), expected)


def test_the_state_is_plain_values(tmp_path: Path) -> None:
    seed_everything(0)
    state = rng_states()
    assert set(state) >= {"python", "numpy", "torch"}
    assert state["numpy"]["bit_generator"] == "MT19937" and len(state["numpy"]["key"]) == 624
    loaded = save_and_load(state, tmp_path / "rng.pt")
    assert torch.equal(loaded["numpy"].pop("key"), state["numpy"].pop("key"))
    assert loaded["numpy"] == state["numpy"]
    assert torch.equal(loaded["python"][1], state["python"][1])
    assert torch.equal(loaded["torch"], state["torch"])


def test_taking_the_states_draws_nothing() -> None:
    seed_everything(5)
    expected = draws()
    seed_everything(5)
    rng_states()
    assert_same(draws(), expected)


def test_a_restore_is_repeatable(tmp_path: Path) -> None:
    seed_everything(7)
    state = save_and_load(rng_states(), tmp_path / "rng.pt")
    first = draws()
    restore_rng_states(state)
    second = draws()
    restore_rng_states(state)
    assert_same(first, second)
    assert_same(second, draws())


def test_seed_everything_seeds_every_generator() -> None:
    seed_everything(11)
    first = draws()
    seed_everything(11)
    assert_same(draws(), first)
    seed_everything(12)
    assert draws()["python"] != first["python"]


def test_a_seed_beyond_numpys_range_is_accepted() -> None:
    seed_everything(2**40 + 1)  # numpy takes 32 bits; the others take it whole
    first = draws()
    seed_everything(2**40 + 1)
    assert_same(draws(), first)


def test_states_saved_as_plain_lists_by_earlier_versions_still_restore() -> None:
    seed_everything(11)
    state = rng_states()
    expected = draws()
    version, internal, gauss = state["python"]
    state["python"] = (version, tuple(internal.tolist()), gauss)  # how checkpoints held them before
    state["numpy"]["key"] = [int(k) for k in state["numpy"]["key"]]
    seed_everything(99)
    restore_rng_states(state)
    assert_same(draws(), expected)


def test_a_single_process_gathers_nothing() -> None:
    assert every_rank_rng_states() is None  # the checkpoint's "rng" is the whole record


@pytest.mark.parametrize(
    ("rank", "world_size", "expected"),
    [("1", "2", "rank 1"), ("0", "2", "rank 0"), ("1", "4", "writer"), ("0", "1", "writer")],
)
def test_each_rank_takes_its_own_states_when_the_job_has_the_same_size(
    monkeypatch: pytest.MonkeyPatch, rank: str, world_size: str, expected: str
) -> None:
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", world_size)
    checkpoint = {"rng": "writer", "rng_by_rank": ["rank 0", "rank 1"]}
    assert own_rng_states(checkpoint) == expected  # another job size: the writer's, as before


def test_a_checkpoint_without_per_rank_states_gives_the_writer_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert own_rng_states({"rng": "writer"}) == "writer"  # written by an earlier version
