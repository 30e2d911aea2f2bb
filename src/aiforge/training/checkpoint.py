"""What a checkpoint holds besides the model: copies that stay as they were while training goes
on (a caller may keep a state in memory), and the callbacks' states under stable keys."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

from aiforge.runtime.log import logger

if TYPE_CHECKING:
    from aiforge.utils.callbacks import Callback


def snapshot(value: Any) -> Any:
    """A copy of nested dicts, lists and tensors (a fraction of ``copy.deepcopy``'s time)."""
    if isinstance(value, torch.Tensor):
        return cpu_copy(value)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(snapshot(item) for item in value)
    return copy.deepcopy(value)


def cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)


def _callback_keys(callbacks: list[Callback]) -> list[str]:
    """A key per callback: its class name (``Name#1`` for a second of one class)."""
    keys: list[str] = []
    for callback in callbacks:
        name = type(callback).__name__
        count = sum(1 for key in keys if key.split("#")[0] == name)
        keys.append(f"{name}#{count}" if count else name)
    return keys


def callback_states(callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    return {key: cb.state_dict() for key, cb in zip(_callback_keys(callbacks), callbacks, strict=True)}


def load_callback_states(callbacks: list[Callback], states: dict[str, dict[str, Any]]) -> None:
    """Give each callback its saved state; a callback new since the checkpoint starts fresh."""
    for key, callback in zip(_callback_keys(callbacks), callbacks, strict=True):
        if key in states:
            callback.load_state_dict(states[key])
        else:
            logger.warning(f"The checkpoint has no state for callback {key}; it starts fresh")
