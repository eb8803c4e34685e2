"""``torch.distributed`` for the training loops: devices, set-up from torchrun's environment,
agreement on the resume step, per-(step, rank) random draws, metric reduction.

``torchrun --nproc_per_node=N -m scene3d.cli pretrain ...`` (or ``--nnodes=M`` with a
rendezvous endpoint: ``docs/distributed.md``) sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` then joins the group with gloo on
CPU and nccl on CUDA. Without those variables training runs as a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from scene3d.errors import ConfigError


class ResumeMismatchError(RuntimeError):
    """The ranks of one run found different checkpoints to resume from (e.g. run folders on
    separate local disks): they would train on mismatched batches."""


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The torch device a command runs on.

    ``spec``: "auto" (this process's GPU when CUDA is available, else the CPU), "cpu",
    "cuda" (this process's GPU: ``LOCAL_RANK`` under torchrun, else GPU 0) or "cuda:N".

    Raises:
        ConfigError: an unknown spec, or a CUDA device where CUDA is not available.
    """
    spec = str(spec).strip().lower()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if spec == "auto":
        return torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec}: CUDA is not available here (torch {torch.__version__}); "
                              "use device=cpu or device=auto")
        index = local if spec == "cuda" else spec.split(":", 1)[1]
        if not str(index).isdigit() or int(index) >= torch.cuda.device_count():
            raise ConfigError(f"device={spec}: this machine has {torch.cuda.device_count()} GPU(s)")
        return torch.device("cuda", int(index))
    raise ConfigError(f"device={spec}: expected auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the group."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device | str = "cpu", timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by torchrun's variables (or an existing one); single
    process otherwise. Backend: nccl for a CUDA ``device``, gloo for the CPU. ``timeout_s``:
    how long a collective waits for the other ranks (e.g. while rank 0 validates) before the
    run fails."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=int(os.environ["RANK"]), world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size())


def agree_on_step(step: int, info: DistInfo, where: str = "") -> None:
    """Check that every rank resumes from the same step (no-op for one process).

    Raises:
        ResumeMismatchError: on every rank, naming each rank's step, when they differ.
    """
    if info.world_size == 1:
        return
    steps = torch.zeros(info.world_size, dtype=torch.int64)
    steps[info.rank] = step
    dist.all_reduce(steps)
    if len(set(steps.tolist())) > 1:
        found = ", ".join(f"rank {r}: step {s}" for r, s in enumerate(steps.tolist()))
        raise ResumeMismatchError(f"the ranks found different checkpoints to resume from ({found}) in {where or 'the run folder'}; "
                                  "every node must see the same run folder (a shared filesystem): see docs/distributed.md")


def seed_step(seed: int, step: int, rank: int) -> None:
    """Seed torch's global generators (CPU and CUDA) from (``seed``, ``step``, ``rank``), so the
    draws made inside a step (dropout) do not depend on what ran before: a resumed run, and
    every rank of one, repeats them exactly."""
    torch.manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]))


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
