"""``torch.distributed`` for the training loop: set up from torchrun's environment, reduce metrics.

``torchrun --nproc_per_node=N -m scene3d.cli pretrain ...`` sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` then joins the group with gloo on CPU
and nccl on CUDA. Without those variables training runs as a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the group."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device | str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's variables (or an existing one); single process otherwise."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=int(os.environ["RANK"]), world_size=world)
    return DistInfo(dist.get_rank(), dist.get_world_size())


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """The mean of each value over all ranks (identity for one process); same keys on every rank."""
    if info.world_size == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.world_size > 1:
        dist.barrier()
