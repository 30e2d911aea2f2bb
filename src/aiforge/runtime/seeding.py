"""One seed for every random number generator a run touches, and their states for exact resume."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def use_deterministic_kernels() -> None:
    """torch's deterministic kernels for this process (``training_config.deterministic``).

    cuBLAS needs its workspace setting before its first use to be deterministic, hence the
    environment variable (a value the user set is kept). Process-wide, like seeding.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def rng_states() -> dict[str, Any]:
    """Every global generator's state, as values ``torch.load(weights_only=True)`` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    # The 625- and 624-number states as tensors: torch.save handles one tensor far faster
    # than a tuple of ints, and a checkpoint is written after every epoch.
    states: dict[str, Any] = {
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back what :func:`rng_states` saved."""
    version, internal, gauss = states["python"]
    internal = internal.tolist() if isinstance(internal, torch.Tensor) else internal  # or a tuple (older)
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    key = numpy_state["key"]
    key = key.numpy() if isinstance(key, torch.Tensor) else key
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {"key": np.array(key, dtype=np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = states["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def every_rank_rng_states() -> list[dict[str, Any]] | None:
    """Each process's generator states, in rank order, under torchrun (a collective: every rank
    calls it at the same point); ``None`` in a single process. Ranks draw their own random
    numbers (dropout masks, a plugin's draws, each GPU's generator), so rank 0's are not theirs."""
    from aiforge.runtime.distributed import all_gather_object, world_size

    return all_gather_object(rng_states()) if world_size() > 1 else None


def own_rng_states(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """This process's generator states from a checkpoint: its own entry when the job has as many
    processes as the one that wrote it; otherwise the writer's (rank 0's, or a single process's)."""
    from aiforge.runtime.distributed import launch_from_environment

    by_rank = checkpoint.get("rng_by_rank")
    launch = launch_from_environment()
    if isinstance(by_rank, list) and len(by_rank) == launch.world_size:
        return by_rank[launch.rank]
    return checkpoint["rng"]
