"""Duplicate detection in a scene repository: re-scans of rooms mixed into an index.

    python benchmarks/bm_duplicates.py --rooms 200 --rescans 60

Each re-scan (``scene3d.synth.rescan``) turns a room by a random angle, shifts it up to 5 m,
crops it to a random 50-90 % of its objects and jitters every box centre by 3 cm. All rooms
and re-scans are indexed; ``SceneIndex.duplicates`` must find exactly the (room, re-scan)
pairs: precision and recall, plus same-place search top-1 for each re-scan and the time.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scene3d.repository import SceneIndex
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene
from scene3d.synth.rescan import rescan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--rescans", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_duplicates"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    shutil.rmtree(args.out, ignore_errors=True)
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    rng = np.random.default_rng(0)
    rooms = [generate_scene(f"r{i:04d}", 7000 + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)
             for i in tqdm(range(args.rooms), desc="rooms")]
    sources = rng.choice(args.rooms, size=args.rescans, replace=False)
    copies = [rescan(rooms[k], f"{rooms[k].scene_id}_rescan", rng, keep=float(rng.uniform(0.5, 0.9)))
              for k in sources]
    truth = {tuple(sorted((rooms[k].scene_id, c.scene_id))) for k, c in zip(sources, copies)}
    index = SceneIndex(args.out / "index")
    for s in tqdm(rooms + copies, desc="index"):
        index.add(s)
    t0 = time.perf_counter()
    found = {tuple(sorted((key, m.key))) for key, m in index.duplicates()}
    t_dup = time.perf_counter() - t0
    tp = len(found & truth)
    top1, times = 0, []
    for k, c in zip(sources, copies):
        t0 = time.perf_counter()
        matches = index.search_scene(c, top_k=1)
        times.append(time.perf_counter() - t0)
        top1 += bool(matches) and matches[0].key == rooms[k].scene_id
    n = len(rooms) + len(copies)
    print(f"{n} scenes ({args.rooms} rooms, {args.rescans} re-scans): duplicates precision {tp / max(len(found), 1):.1%} "
          f"recall {tp / len(truth):.1%} ({len(found)} pairs reported, {len(truth)} true) in {t_dup:.1f} s; "
          f"same-place search top-1 {top1 / len(copies):.1%}, p50 {np.median(times) * 1000:.0f} ms per query")


if __name__ == "__main__":
    main()
