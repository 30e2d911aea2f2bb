"""Which implementation an optimizer step runs: torch's fused kernel where it fits.

torch still defaults to its per-tensor loop on a CPU; for Adam and AdamW the fused kernel
makes the same update (to float rounding) in one kernel for all parameters instead of about
a dozen per tensor, which on a small model is a quarter of the step.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from aiforge.runtime.log import logger

FUSED_BY_DEFAULT = frozenset({"Adam", "AdamW"})
# A user's choice of implementation, which is kept as given.
IMPLEMENTATION_ARGS = frozenset({"fused", "foreach", "differentiable"})


def readable_twice(parameters: Any) -> Any:
    """Parameters, or param-group dicts, with every one-pass iterator turned into a list.

    A tensor or a set (of groups or of a group's parameters) is left as it is, for torch to
    refuse: a set has no fixed order, so a checkpoint's state could meet the wrong parameter.
    """
    import torch

    def listed(entry: Any) -> Any:
        if isinstance(entry, dict) and "params" in entry:
            params = entry["params"]
            if not isinstance(params, torch.Tensor | Set | list):
                return {**entry, "params": list(params)}
        return entry

    if isinstance(parameters, torch.Tensor | Set):
        return parameters
    return [listed(entry) for entry in parameters]


def _tensors(parameters: Any) -> list[Any]:
    import torch

    tensors: list[Any] = []
    for entry in parameters:
        group = entry.get("params", []) if isinstance(entry, dict) else entry
        tensors.extend([group] if isinstance(group, torch.Tensor) else group)
    return tensors


def fused_kernel_fits(tensors: list[Any]) -> bool:
    """Whether torch's fused Adam takes these parameters: real float tensors on CUDA, or on the
    CPU from torch 2.4 (torch itself checks only at the first step)."""
    import torch

    cpu_kernels = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 4)
    devices = {"cuda", "cpu"} if cpu_kernels else {"cuda"}
    return all(
        isinstance(t, torch.Tensor) and t.is_floating_point() and t.device.type in devices for t in tensors
    )


def choose_fused(name: str, parameters: Any, kwargs: dict[str, Any]) -> bool:
    """Whether to build ``name`` with ``fused=True``: Adam or AdamW, no implementation chosen in
    ``kwargs`` or in a param group, and parameters the kernel takes."""
    import torch

    if name not in FUSED_BY_DEFAULT or IMPLEMENTATION_ARGS & kwargs.keys():
        return False
    if isinstance(parameters, torch.Tensor | Set):
        return False
    groups = [entry for entry in parameters if isinstance(entry, dict)]
    if any(IMPLEMENTATION_ARGS & group.keys() for group in groups):
        return False
    return fused_kernel_fits(_tensors(parameters))


def keep_kernels_usable(optimizer: Any) -> None:
    """After loading a checkpoint: a param group saved with the fused kernel goes on with
    torch's default loop where this torch or device has no such kernel (a checkpoint from a
    GPU or a newer torch), instead of failing at the next step."""
    for group in optimizer.param_groups:
        if group.get("fused") and not fused_kernel_fits(group["params"]):
            group["fused"] = None
            logger.warning(
                f"The checkpoint's {type(optimizer).__name__} used torch's fused kernel, which this "
                "torch or device lacks: resuming with the default implementation (the same update "
                "to float rounding, so not bit for bit the run it continues)"
            )
