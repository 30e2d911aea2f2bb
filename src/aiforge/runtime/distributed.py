"""Multi-process training under torchrun: the launcher's environment, the process group, and
the few collectives the loop needs. The one place rank is decided."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
# What a collective raises on the survivors when another process of the job died.
PEER_FAILURE_SIGNS = (
    "Connection closed by peer",
    "Connection reset by peer",
    "remote worker",
    "communicator was aborted",
)


@dataclass(frozen=True)
class Launch:
    """Where this process sits in the job, as the launcher (torchrun, srun) told it."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    launched: bool = False  # started by torchrun or srun, even as its only process

    @property
    def distributed(self) -> bool:
        """Join a process group: several processes, or one that a launcher started."""
        return self.world_size > 1 or self.launched


def launch_from_environment() -> Launch:
    """RANK, LOCAL_RANK and WORLD_SIZE from torchrun (SLURM's variables when started by srun)."""
    env = os.environ
    if "WORLD_SIZE" not in env and "SLURM_NTASKS" in env and "MASTER_ADDR" in env:
        rank, local = int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0))
        return Launch(rank, local, int(env["SLURM_NTASKS"]), launched=True)
    launched = "TORCHELASTIC_RUN_ID" in env and "MASTER_ADDR" in env
    rank, local, world = int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1))
    return Launch(rank, local, world, launched)


def is_initialized() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return False
    return dist.is_available() and dist.is_initialized()


def inference_mode_works_with_backend() -> bool:
    """False under gloo: in older torch (2.3 for one) its collectives run on a thread outside
    inference mode and cannot write into inference tensors (torchmetrics' sync); as in Lightning."""
    if not is_initialized():
        return True
    import torch.distributed as dist

    return dist.get_backend() != "gloo"


def rank() -> int:
    if is_initialized():
        import torch.distributed as dist

        return dist.get_rank()
    return launch_from_environment().rank


def world_size() -> int:
    if is_initialized():
        import torch.distributed as dist

        return dist.get_world_size()
    return 1


def is_main_process() -> bool:
    """True in a single-process run, and on global rank 0 under torchrun."""
    return rank() == 0


@contextlib.contextmanager
def process_group(launch: Launch, use_cuda: bool, timeout_seconds: float) -> Iterator[None]:
    """Join the job's process group (NCCL with CUDA, gloo otherwise) and leave it on every exit path.

    The timeout bounds every collective, so a dead peer ends the job instead of hanging it.
    Nothing happens for a single process or when the caller already set a group up.
    """
    if not launch.distributed or is_initialized():
        yield
        return
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    if use_cuda:
        torch.cuda.set_device(launch.local_rank)
    os.environ.setdefault("RANK", str(launch.rank))
    os.environ.setdefault("WORLD_SIZE", str(launch.world_size))
    timeout = timedelta(seconds=timeout_seconds)
    dist.init_process_group(
        backend="nccl" if use_cuda else "gloo",
        timeout=timeout,
        rank=launch.rank,
        world_size=launch.world_size,
        store=_restart_store(launch, timeout),
    )
    try:
        yield
        # Leave together: a rank that tears its group down while a peer still talks to it
        # can abort that peer ("terminate called without an active exception").
        dist.barrier()
    finally:
        gc.collect()  # what still holds the group (a dropped DDP wrapper) goes before it
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _restart_store(launch: Launch, timeout: Any) -> Any:
    """Under torchelastic, the rendezvous store with a prefix per restart attempt.

    Workers restarted by ``--max-restarts`` may meet in the store of the attempt before, where
    the dead workers' addresses are still written; without a fresh prefix they would try to
    connect to them. None (torch's own env:// set-up) outside torchelastic.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or "MASTER_ADDR" not in os.environ:
        return None
    import torch.distributed as dist

    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        launch.world_size,
        is_master=not agent_store and launch.rank == 0,
        multi_tenant=True,
        timeout=timeout,
    )
    return dist.PrefixStore(f"aiforge/attempt_{attempt}", store)


def is_peer_failure(error: BaseException) -> bool:
    """A failure that only echoes another process's (its own error is what to report)."""
    if launch_from_environment().world_size < 2:
        return False
    try:
        from torch.distributed import DistError
    except ImportError:  # pragma: no cover - torch without distributed support
        DistError = ()  # type: ignore[assignment,misc]
    text = str(error)
    return isinstance(error, DistError) or any(sign in text for sign in PEER_FAILURE_SIGNS)


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (run folder, MLflow run id, a checkpoint)."""
    if not is_initialized():
        return value
    import torch.distributed as dist

    holder = [value if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_gather_object(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank; ``[value]`` in a single process."""
    if not is_initialized():
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_sum(*values: Any) -> list[float]:
    """Numbers (one-value tensors, ints, floats) summed across ranks in one collective, as
    Python floats (float64); in a single process, the values themselves as floats."""
    if not is_initialized():
        return [float(value) for value in values]
    import torch
    import torch.distributed as dist

    # The values may sit on different devices (a CUDA sum, a Python count): gathered on the CPU.
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64).reshape(()).cpu() for v in values])
    if dist.get_backend() == "nccl":
        stacked = stacked.cuda()
    dist.all_reduce(stacked)
    return stacked.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any of them (decisions that must agree)."""
    if not is_initialized():
        return flag
    (total,) = all_reduce_sum(float(flag))
    return bool(total > 0)


def barrier() -> None:
    if is_initialized():
        import torch.distributed as dist

        dist.barrier()
