"""Training steps per second of both trainers by device and precision, in one run.

The peer is the CPU in fp32 (1 torch thread), measured in the same process; every other setting
is reported as a ratio to it. Settings: CPU fp32, CPU bf16 (autocast on the CPU) and, when CUDA
is present, GPU fp32 and GPU bf16 (the ``auto`` precision of a GPU with bf16).

    python benchmarks/bm_device_speed.py [--steps 20] [--rooms 4]

* ``pretrain``: the default recipe's student (``configs/pretrain.yaml``: voxel 0.08 m, projection
  loss, text-contrastive + balanced) on ``--rooms`` generated rooms with frames, batch 2.
* ``train-grounding``: the default model (dim 128, 3 layers) on the generated language of the same
  rooms, batch 32.

A setting is timed as (``steps`` + 3 warm-up steps) minus the 3 warm-up steps, each a separate call
of the trainer on the same run folder (it resumes), so start-up, teacher set-up and the first
step's kernel-map building are left out.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from scene3d.distill import DistillConfig, StudentConfig, pretrain
from scene3d.graph import build_scene_graph
from scene3d.grounding import GroundingDataset, TextCache
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.language import generate_language
from scene3d.models.text_encoder import minilm_text_encoder
from scene3d.synth import SynthConfig, generate_scene
from scene3d.teachers import label_embedding_teacher
from scene3d.train import LoopConfig

WARM = 3


def settings() -> list[tuple[str, str]]:
    out = [("cpu", "fp32"), ("cpu", "bf16")]
    if torch.cuda.is_available():
        out += [("cuda", "fp32"), ("cuda", "bf16")]
    return out


def time_pretrain(scenes, teacher, device: str, precision: str, steps: int) -> float:
    """Seconds per pretrain step."""
    student = StudentConfig(voxel_size=0.08)
    distill = DistillConfig(w_feature=0, w_depth=0, w_projection=1, feature_loss="text", balance=True)
    with tempfile.TemporaryDirectory() as tmp:
        def run(n: int) -> float:
            t0 = time.perf_counter()
            pretrain(scenes, teacher, tmp, student, distill, LoopConfig(steps=n, batch_size=2, lr=0.01, warmup=10,
                                                                        checkpoint_every=10**9),
                     progress=False, device=device, precision=precision)
            if device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - t0
        run(WARM)
        fixed = run(WARM)                        # nothing left to train: the set-up of a call
        return (run(WARM + steps) - fixed) / steps


def time_grounding(data, cache, device: str, precision: str, steps: int) -> float:
    """Seconds per train-grounding step."""
    with tempfile.TemporaryDirectory() as tmp:
        def run(n: int) -> float:
            cfg = GroundingTrainConfig(steps=n, batch_size=32, checkpoint_every=10**9, eval_every=10**9,
                                       device=device, precision=precision)
            t0 = time.perf_counter()
            train_grounding(data, Path(tmp), cfg, cache=cache, progress=False)
            if device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - t0
        run(WARM)
        fixed = run(WARM)
        return (run(WARM + steps) - fixed) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rooms", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.pop("WORLD_SIZE", None)
    cfg = SynthConfig(num_frames=6)
    scenes = [generate_scene(f"bm{i}", 100 + i, None, cfg) for i in range(args.rooms)]
    utts = [u for s in scenes for u in generate_language(build_scene_graph(s), seed=1)]
    data = GroundingDataset.build({s.scene_id: s for s in scenes}, utts)
    cache = TextCache(minilm_text_encoder())
    teacher = label_embedding_teacher()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CUDA not available)"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, 1 torch thread; GPU: {gpu}; torch {torch.__version__}")
    print(f"{args.rooms} rooms ({sum(s.num_points for s in scenes):,} points, {len(data.examples)} referrals), "
          f"{args.steps} timed steps per setting")
    print("| trainer | device | precision | s/step | steps/s | ratio to CPU fp32 |")
    print("|---|---|---|---|---|---|")
    for name, timer, arg in (("pretrain", time_pretrain, (scenes, teacher)), ("train-grounding", time_grounding,
                                                                               (data, cache))):
        peer = None
        for device, precision in settings():
            sec = timer(*arg, device, precision, args.steps)
            peer = peer or sec
            print(f"| {name} | {device} | {precision} | {sec:.3f} | {1 / sec:.2f} | {peer / sec:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
