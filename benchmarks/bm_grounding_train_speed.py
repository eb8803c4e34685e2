"""Training steps per second of the grounding model on real train-side data (batch 32, one
thread, sentences read from the text cache): padding to the batch's largest scene vs
object-count buckets. The settings run in this one process, alternating (1, 4, 1, 4), so the
ratio holds on a busy machine.

    python benchmarks/bm_grounding_train_speed.py --corpus runs/corpus_real/language.jsonl \
        --text-cache runs/text_cache [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bm_grounding_real import FILES, OBJECTS

from scene3d.grounding import GroundingDataset, TextCache
from scene3d.grounding.real import load_real_grounding
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.models.text_encoder import minilm_text_encoder


def timed(data: GroundingDataset, cache: TextCache, buckets: int, steps: int) -> float:
    """Seconds per step of ``steps`` steps after 5 warm-up steps. A call of ``train_grounding``
    also loads, calibrates and plots; a call with no step left to run times that, and it is
    taken off."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GroundingTrainConfig(steps=5, buckets=buckets, checkpoint_every=10**9, eval_every=10**9)
        train_grounding(data, Path(tmp), cfg, cache=cache, progress=False)
        t0 = time.perf_counter()
        train_grounding(data, Path(tmp), cfg, cache=cache, progress=False)       # nothing left: the fixed cost
        fixed = time.perf_counter() - t0
        cfg.steps = 5 + steps
        t0 = time.perf_counter()
        train_grounding(data, Path(tmp), cfg, cache=cache, progress=False)
        return (time.perf_counter() - t0 - fixed) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--text-cache", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.pop("WORLD_SIZE", None)
    files = [f for fs in FILES.values() for f in fs] + [args.corpus]
    scenes, utts = load_real_grounding(files, OBJECTS)
    data = GroundingDataset.build(scenes, utts)
    sizes = np.array([len(data.scenes[ex.scene].objects) for ex in data.examples])
    print(f"machine: {platform.machine()}, 1 thread; {len(data.examples)} referrals in {len(data.scenes)} scenes, "
          f"{sizes.mean():.1f} objects per referral's scene (max {sizes.max()})")
    encoder = minilm_text_encoder()
    rows = []
    cache = TextCache(encoder, folder=args.text_cache)
    for buckets in (1, 4, 1, 4):
        s = timed(data, cache, buckets, args.steps)
        rows.append((buckets, s))
        print(f"buckets={buckets}: {1 / s:.2f} steps/s", flush=True)
    padded = np.mean([s for b, s in rows if b == 1])
    bucketed = np.mean([s for b, s in rows if b == 4])
    print(f"| padded to the batch's largest scene | {1 / padded:.2f} steps/s |\n"
          f"| 4 object-count buckets | {1 / bucketed:.2f} steps/s ({padded / bucketed:.2f}x) |")


if __name__ == "__main__":
    main()
