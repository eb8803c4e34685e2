"""Scene repository: text -> scene retrieval on generated rooms, and a 100K-scene index.

    python benchmarks/bm_repository.py --scenes 300 --scale 100000 --out runs/bm_repository

1. ``--scenes`` object-list rooms are generated and indexed *without* their captions; each
   room's generated scene caption (held out from the index) is then the query:
   recall@1 / @5 and the query time.
2. The index is grown to ``--scale`` scenes with synthetic descriptors (each a room's
   embedding plus Gaussian noise, renormalised; no objects), the FAISS index is built (IVF-Flat
   above 20k scenes) and text queries are timed through ``SceneIndex.search_text``; recall@10
   of the approximate index against exact search over the same vectors, build time, resident memory and disk.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scene3d.graph import build_scene_graph
from scene3d.language import LanguageConfig, generate_language
from scene3d.repository import SceneIndex, build_faiss
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene


def _size(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--scale", type=int, default=100000)
    ap.add_argument("--noise", type=float, default=0.35)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_repository"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    shutil.rmtree(args.out, ignore_errors=True)
    cfg = SynthConfig(num_points=500, min_object_points=1, num_frames=0)
    rooms, captions = [], {}
    for i in tqdm(range(args.scenes), desc="rooms"):
        s = generate_scene(f"r{i:05d}", 5000 + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)
        rooms.append(s)
        utts = generate_language(build_scene_graph(s), seed=i, config=LanguageConfig(per_target=1))
        captions[s.scene_id] = next(u.text for u in utts if u.kind == "scene_caption")
    index = SceneIndex(args.out / "index")
    t0 = time.perf_counter()
    for s in tqdm(rooms, desc="index"):
        index.add(s)
    t_index = time.perf_counter() - t0
    r1 = r5 = 0
    times = []
    for s in rooms:
        t0 = time.perf_counter()
        hits = index.search_text(captions[s.scene_id], top_k=5)
        times.append(time.perf_counter() - t0)
        ids = [h.scene_id for h in hits]
        r1 += ids[0] == s.scene_id
        r5 += s.scene_id in ids
    n = len(rooms)
    print(f"text -> scene over {n} generated rooms (captions held out of the index): recall@1 {r1 / n:.1%}, "
          f"recall@5 {r5 / n:.1%} (chance {1 / n:.1%} / {5 / n:.1%}); indexing {n / t_index:.1f} rooms/s; "
          f"query p50 {np.median(times) * 1000:.1f} ms")

    # ------------------------------------------------------------ scale
    _, base = index.vectors()
    rng = np.random.default_rng(0)
    extra = args.scale - n
    t0 = time.perf_counter()
    chunk = 5000
    for start in tqdm(range(0, extra, chunk), desc="synthetic descriptors"):
        m = min(chunk, extra - start)
        v = base[rng.integers(len(base), size=m)] + args.noise * rng.normal(size=(m, base.shape[1])) / np.sqrt(base.shape[1])
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        index.add_descriptors([f"s{start + k:07d}" for k in range(m)], v)
    t_insert = time.perf_counter() - t0
    t0 = time.perf_counter()
    faiss_index, ids = index.faiss_index()
    t_build = time.perf_counter() - t0
    _, vectors = index.vectors()
    exact = build_faiss(vectors, approximate=False)
    queries = [captions[s.scene_id] for s in rooms[:200]]
    qv = index.embedder.embed_texts(queries)
    _, a = exact.search(qv, 10)
    _, b = faiss_index.search(qv, 10)
    recall = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)])
    t_faiss, t_exact, t_full = [], [], []
    short = ["a bedroom with two lamps beside the bed", "a red chair near a window", "an office with three desks",
             "a kitchen with a stove and a refrigerator", "a bathroom with a bathtub"]
    for k in range(min(100, len(queries))):
        t0 = time.perf_counter()
        faiss_index.search(qv[k:k + 1], 10)
        t_faiss.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        exact.search(qv[k:k + 1], 10)
        t_exact.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        index.search_text(f"{short[k % len(short)]} {k}", top_k=10)  # a new short sentence each time
        t_full.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale: {len(ids):,} scenes; insert {t_insert:.1f} s, FAISS {type(faiss_index).__name__} build "
          f"{t_build:.1f} s; recall@10 vs exact {recall:.3f}; FAISS query p50 {np.median(t_faiss) * 1000:.2f} ms "
          f"(exact {np.median(t_exact) * 1000:.2f} ms); search_text p50 {np.median(t_full) * 1000:.1f} ms, "
          f"p95 {np.percentile(t_full, 95) * 1000:.1f} ms (new short sentence each); disk {_size(args.out / 'index'):.0f} MB; "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
