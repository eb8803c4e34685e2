"""Grounding latency: one query against a ~50-object scene on the CPU (p50 / p95).

    python benchmarks/bm_grounding.py [--run RUN] [--queries 100] [--threads 1] [--rotations 4]

Each query is a new sentence, so the time includes encoding it with all-MiniLM-L6-v2.
Without ``--run`` an untrained model of the default size is timed (latency does not
depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from scene3d.grounding import Grounder
from scene3d.models.grounding import GroundingTransformer


def _scene():
    root = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    gt = root / "scannet" / "meta" / "objects_train_scenes.json.gz"
    if gt.is_file():
        from scene3d.io import load_gt_object_scenes

        scenes = load_gt_object_scenes(gt).values()
        return min(scenes, key=lambda s: abs(len(s.objects) - 50)), "ScanNet GT object list"
    from scene3d.synth import SynthConfig, generate_scene

    return generate_scene("bm", 3, "office", SynthConfig(num_points=500, num_frames=0)), "synthetic office"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rotations", type=int, default=4, help="turns of the scene averaged per answer")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    grounder = Grounder.from_checkpoint(args.run) if args.run else Grounder(GroundingTransformer())
    grounder.rotations = args.rotations
    scene, source = _scene()
    labels = sorted({o.label for o in scene.objects})
    rng = np.random.default_rng(0)
    words = ["near", "next to", "on", "left of", "between", "far from", "closest to"]
    grounder.ground(scene, "warm up the chair")
    times, text_times = [], []
    for k in range(args.queries):
        a, b = rng.choice(labels, 2)
        query = f"the {a} {rng.choice(words)} the {b} number {k}"  # new text: no cache hit
        t0 = time.perf_counter()
        grounder.ground(scene, query)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            grounder.cache.encoder([query + " again"])  # the sentence encoder alone, same length
        text_times.append(time.perf_counter() - t0)
    t, tt = np.array(times) * 1000, np.array(text_times) * 1000
    print(f"machine: {platform.machine()}, {args.threads} thread(s), {args.rotations} rotation(s); scene: {source}, "
          f"{len(scene.objects)} objects")
    print(f"latency per query: p50 {np.percentile(t, 50):.1f} ms, p95 {np.percentile(t, 95):.1f} ms, "
          f"mean {t.mean():.1f} ms over {len(t)} queries (goal < 20 ms); of which the sentence encoder "
          f"(all-MiniLM-L6-v2) p50 {np.percentile(tt, 50):.1f} ms")


if __name__ == "__main__":
    main()
