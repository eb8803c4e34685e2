"""The shared training loop: seeded, resumable, DDP-ready, logged.

Both trainers run on it: feature distillation (one scene per backward pass) and grounding
(a batch of referrals per pass, two parameter groups, a validation hook). A task draws each
step's global batch of ``batch_size`` items from a generator seeded by ``(seed, step)`` and
gives the losses of some positions of it (``TrainTask``); the loop splits the batch over the
ranks (rank ``r`` takes positions ``r, r + W, ...``) and each rank's share into backward passes
of ``task.micro_batch`` positions. A pass's losses come with a generator seeded by
``(seed, step, its first position)`` (torch's global generator, for dropout, is seeded from the
same triple), so a step does the same work after any resume. The network's forward passes run
in the run's precision (:mod:`scene3d.train.precision`: fp32, or bf16 / fp16 autocast with
everything after the forward in fp32; fp16 scales the loss with a ``GradScaler`` checkpointed
with the rest). Gradients are the mean over the global batch (DDP averages the ranks' means),
clipped, then AdamW with linear warm-up and cosine decay (the learning rate is a pure function
of the step; each parameter group keeps its own peak). Rank 0 logs the rank-averaged losses to
``metrics.csv`` (+ ``metrics.png``) and writes checkpoints (safetensors + JSON, ``Checkpointer``);
a restarted run resumes from the latest one exactly, losing at most ``checkpoint_every`` steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from scene3d.train.checkpoint import Checkpointer, TrainState
from scene3d.train.distributed import (
    DistInfo,
    agree_on_step,
    barrier,
    init_from_env,
    mean_over_ranks,
    seed_step,
)
from scene3d.train.log import MetricLog
from scene3d.train.precision import for_training, resolve_precision


class TrainTask(Protocol):
    """What the loop trains.

    ``micro_batch``: positions per backward pass on a rank (1: each item alone, to bound
    memory; 0: the rank's whole share in one pass, for losses over a batch). ``draw(rng, size)``
    returns the step's global batch (``size`` items of any kind; ``rng`` is seeded by (seed,
    step), so every rank draws the same). ``losses(model, batch, positions, generator)``
    returns the scalar losses of ``batch[p] for p in positions`` (means over them), including
    ``"loss"`` (the one optimised); the others are logged. ``model`` may be wrapped (DDP,
    autocast): call it, don't reach inside; its floating outputs are fp32. The task puts its
    inputs on the model's device.
    """

    micro_batch: int

    def draw(self, rng: np.random.Generator, size: int) -> list: ...

    def losses(self, model: nn.Module, batch: list, positions: list[int],
               generator: torch.Generator) -> dict[str, torch.Tensor]: ...


@dataclass
class LoopConfig:
    """Optimisation and bookkeeping of :func:`run_training`."""

    steps: int = 1000
    """Optimiser steps."""
    batch_size: int = 2
    """Items per step over all processes (must be divisible by the number of processes)."""
    lr: float = 1e-3
    """Peak learning rate (AdamW)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup: int = 20
    """Linear warm-up steps."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 = no clipping)."""
    checkpoint_every: int = 100
    """Steps between checkpoints (and the last step)."""
    log_every: int = 1
    """Steps between metric rows."""
    seed: int = 0
    """Everything random in the loop follows from it."""
    dist_timeout_s: float = 1800.0
    """Under torchrun: how long a rank waits for the others in a collective before the run fails."""

    def lr_factor(self, step: int) -> float:
        """Share of the peak learning rate at optimiser step ``step`` (0-based): linear warm-up
        over ``warmup`` steps, cosine decay to 0 at ``steps``."""
        warm = min(1.0, (step + 1) / max(self.warmup, 1))
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, self.steps) / max(self.steps, 1)))

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (0-based), for the default parameter group."""
        return self.lr * self.lr_factor(step)


def item_generator(seed: int, step: int, position: int) -> torch.Generator:
    """The generator of batch position ``position`` at step ``step`` (the same on any rank)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, position]).generate_state(1)[0]))


def run_training(model: nn.Module, task: TrainTask, cfg: LoopConfig, out_dir: str | Path,
                 extra_state: dict | None = None, progress: bool = True, device: str | torch.device = "cpu",
                 find_unused_parameters: bool = False, precision: str = "auto", param_groups: list[dict] | None = None,
                 on_step: Callable[[int], dict[str, float]] | None = None, desc: str = "train") -> TrainState:
    """Train ``model`` on ``task`` (or resume from ``out_dir/checkpoints``); returns the final state.

    Joins a process group when launched by torchrun (see :mod:`scene3d.train.distributed`). The
    model must already be initialised identically on every rank (seed before building it).
    Every rank resumes from its ``out_dir``'s latest checkpoint; if the ranks find different
    ones (no shared run folder), all stop with :class:`ResumeMismatchError` before training.

    Args:
        model: the module to train (on ``device``).
        task: items and per-item losses.
        cfg: the loop's settings.
        out_dir: run folder: ``checkpoints/``, ``metrics.csv``, ``metrics.png``.
        extra_state: JSON-able notes saved in every checkpoint's ``TrainState.extra`` (e.g. the model config).
        progress: show a tqdm bar (rank 0).
        device: where the model is (picks the DDP backend: gloo on CPU, nccl on CUDA); the task
            puts its tensors there.
        find_unused_parameters: tell DDP that some parameters may get no gradient (e.g. a head
            that the task's losses do not use).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (:func:`scene3d.train.precision.resolve_precision`;
            ``auto`` is fp32 on the CPU). The task receives the model wrapped so that its forward
            runs under autocast and returns fp32.
        param_groups: AdamW parameter groups (``{"params": [...], "lr": peak}``; a group without
            ``lr`` peaks at ``cfg.lr``); None: all of the model's parameters in one group.
        on_step: called on rank 0 after each optimiser step with the step count; the metrics it
            returns (e.g. a validation score when one is due) are logged with the losses.
        desc: the progress bar's label.

    Raises:
        ConfigError: an unknown ``precision``, or bf16 on a GPU without it.
        ValueError: ``batch_size`` not divisible by the number of processes.
        ResumeMismatchError: the ranks would resume from different steps.
    """
    amp = resolve_precision(precision, device)
    info: DistInfo = init_from_env(device, cfg.dist_timeout_s)
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {info.world_size} processes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = param_groups if param_groups is not None else [{"params": list(model.parameters())}]
    peaks = [g.get("lr", cfg.lr) for g in groups]        # settings, not state: kept over a resume
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = amp.grad_scaler()
    ckpt = Checkpointer(out_dir / "checkpoints")
    state = TrainState(extra=dict(extra_state or {}))
    if ckpt.latest() is not None:
        state = ckpt.load(model, opt, scaler=scaler)
    agree_on_step(state.step, info, str(out_dir))
    ddp: nn.Module = model
    if info.world_size > 1:
        ids = [torch.device(device).index] if torch.device(device).type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)
    wrapped = for_training(ddp, amp)
    log = MetricLog(out_dir, resume_step=state.step) if info.is_main else None
    local = cfg.batch_size // info.world_size
    bar = tqdm(total=cfg.steps, initial=state.step, desc=desc, unit="step", disable=not (progress and info.is_main))
    while state.step < cfg.steps:
        t0 = time.perf_counter()
        model.train()
        for group, peak in zip(opt.param_groups, peaks):
            group["lr"] = peak * cfg.lr_factor(state.step)
        batch = task.draw(np.random.default_rng([cfg.seed, state.step]), cfg.batch_size)
        opt.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        positions = list(range(info.rank, cfg.batch_size, info.world_size))
        size = task.micro_batch or len(positions)
        passes = [positions[i:i + size] for i in range(0, len(positions), size)]
        for n, chunk in enumerate(passes):
            last = n == len(passes) - 1
            sync = nullcontext() if (last or info.world_size == 1) else ddp.no_sync()
            share = len(chunk) / local
            with sync:
                seed_step(cfg.seed, state.step, chunk[0])     # in-model draws (dropout) per pass
                parts = task.losses(wrapped, batch, chunk, item_generator(cfg.seed, state.step, chunk[0]))
                loss = parts["loss"] * share
                (scaler.scale(loss) if scaler is not None else loss).backward()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * share
        if scaler is not None:
            scaler.unscale_(opt)                          # clip the true gradients
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if scaler is not None:
            scaler.step(opt)                              # skipped when a gradient overflowed
            scaler.update()
        else:
            opt.step()
        state.step += 1
        values = mean_over_ranks(sums, info)
        bar.update()
        bar.set_postfix(loss=f"{values['loss']:.4f}")
        extra = on_step(state.step) if (on_step is not None and info.is_main) else {}
        values.update(extra)
        if log is not None and (state.step % cfg.log_every == 0 or state.step == cfg.steps or extra):
            log.log(state.step, **values, lr=cfg.lr_at(state.step - 1), seconds=time.perf_counter() - t0)
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            if info.is_main:
                ckpt.save(model, opt, state, scaler=scaler)
            barrier(info)
    bar.close()
    if log is not None and log.rows:
        log.plot()
    return state
