"""Scenes per second for scene graph + language generation on 30-50-object scenes.

    python benchmarks/bm_language.py [--scenes 300] [--workers 1 2]

Scenes: the ScanNet ground-truth object lists with 30-50 objects (from
../shared/data when present), else synthetic rooms. The SceneVerse scale goal:
68K scenes in under 15 minutes on this 2-core machine, i.e. >= 80 scenes/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from scene3d.graph import build_scene_graph
from scene3d.language import generate_language
from scene3d.parallel import map_progress

_SCENES = []


def _work(index: int) -> int:
    scene = _SCENES[index]
    return len(generate_language(build_scene_graph(scene), seed=index))


def _load(n: int):
    root = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    gt = root / "scannet" / "meta" / "objects_train_scenes.json.gz"
    if gt.is_file():
        from scene3d.io import load_gt_object_scenes

        scenes = [s for s in load_gt_object_scenes(gt).values() if 30 <= len(s.objects) <= 50]
        return "ScanNet GT object lists", [scenes[i % len(scenes)] for i in range(n)]
    from scene3d.synth import SynthConfig, generate_scene

    cfg = SynthConfig(num_points=2000, num_frames=0)
    base = [generate_scene(f"s{i}", i, None, cfg) for i in range(24)]
    return "synthetic rooms", [base[i % len(base)] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    source, scenes = _load(args.scenes)
    _SCENES.extend(scenes)
    n_obj = np.mean([len(s.objects) for s in scenes])
    print(f"machine: {platform.machine()} x {os.cpu_count()} cores; {len(scenes)} scenes from {source}, "
          f"{n_obj:.1f} objects on average")
    for w in args.workers:
        t0 = time.perf_counter()
        counts = map_progress(_work, range(len(scenes)), w, progress=False)
        dt = time.perf_counter() - t0
        rate = len(scenes) / dt
        print(f"workers={w}: {rate:.1f} scenes/s ({sum(counts) / len(scenes):.0f} utterances/scene); "
              f"68K scenes in {68_000 / rate / 60:.1f} min")
    t0 = time.perf_counter()
    for s in scenes[:100]:
        build_scene_graph(s)
    print(f"graph alone: {100 / (time.perf_counter() - t0):.1f} scenes/s (1 worker)")


if __name__ == "__main__":
    main()
