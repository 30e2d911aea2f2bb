"""Mixed precision for the loop: autocast around the model's steps and, for float16, a gradient
scaler, so that small gradients do not underflow to zero."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aiforge.errors import ConfigError
from aiforge.runtime.log import logger


class Precision:
    """Autocast and, for float16, a gradient scaler: ``32``, ``bf16-mixed`` or ``16-mixed``.

    bfloat16 has float32's range, so it needs no scaler; float16 does, or small gradients
    underflow to zero.
    """

    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self.device_type = device.type
        self.dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(name)
        self.scaler = torch.amp.GradScaler(device.type) if name == "16-mixed" else None

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` under autocast; in full precision, a plain call (this runs for every
        batch, where even a do-nothing context costs a visible share of a small model's step)."""
        if self.dtype is None:
            return function(*args)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return function(*args)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """True gradients before clipping or checking them."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step; the scaler skips it when the float16 gradients overflowed."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip_step(self) -> None:
        """No step this time (non-finite gradients): the scaler still lowers its scale."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def precision_for(name: str, device: torch.device) -> Precision:
    """``training_config.precision`` on ``device``: a CPU has no fast float16, so 16-mixed runs
    there as bf16-mixed (as in Lightning); a GPU without bfloat16 cannot run bf16-mixed."""
    if name == "16-mixed" and device.type != "cuda":
        logger.warning("precision 16-mixed needs CUDA; using bf16-mixed on the CPU instead")
        name = "bf16-mixed"
    if name == "bf16-mixed" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"training_config.precision: this GPU ({torch.cuda.get_device_name(device)}) has no "
            "bfloat16; use 16-mixed"
        )
    return Precision(name, device)


def full_precision(outputs: Any) -> Any:
    """Predictions in float32 for the metrics, whatever autocast made them."""
    if isinstance(outputs, torch.Tensor) and outputs.dtype in (torch.bfloat16, torch.float16):
        return outputs.float()
    return outputs
