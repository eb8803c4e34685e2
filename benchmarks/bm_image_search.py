"""Image queries in a scene repository: which room is this photo of, and from where?

    python benchmarks/bm_image_search.py --rooms 400 --queried 100 --distractors 20 \
        --out runs/bm_image_search [--code OLDER_CHECKOUT ...]

Every room ``seed + i`` is generated with 12 frames on a loop through the room (eye height and view
target drawn per frame); frames 0 and 6 are held out as queries and the other 10 are indexed
(view descriptors with the label teacher + SIFT landmarks). The first ``--queried`` indexed rooms
are queried with their two held-out frames; ``--distractors`` further rooms that are not indexed
measure false accepts (any hit is one). The other indexed rooms are there to make the search harder
and the index larger.

The index is built once (``<out>/index``, with the package this script is run with; an interrupted
build resumes, its rooms are not indexed again) and reused by later runs with the same settings;
the queries then run, one process per checkout, against that one index: this checkout first, then
each ``--code`` checkout (its ``scene3d`` package on ``PYTHONPATH``), so code before and after a
change is measured in the same run on the same index.

Reports per checkout: verified top-1 (the first hit is the right room), retrieval-only top-1 of the
full view descriptor (the teacher's full map of the query) and of its teacher and colour halves
alone, shortlist recall (the right room among the ``candidates`` verified), the pose error of correct
hits (median, and the share within 10 cm and 2 degrees), false accepts, query time p50 / p90 (the
whole ``SceneIndex.search_image`` call, 1 thread) and the teacher's full pass over the query timed
apart, peak memory of the query process; and for the index its landmarks and their stored bytes per
room, its size on disk and the indexing time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

HELD_OUT = (0, 6)


def room(i: int, seed: int):
    """Room ``i`` of the benchmark: a generated scene with 12 frames of 320 x 240."""
    from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene

    cfg = SynthConfig(num_points=3000, min_object_points=20, num_frames=12)
    return generate_scene(f"r{i:04d}", seed + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)


def build(args: argparse.Namespace) -> dict:
    """Index rooms ``0 .. rooms-1`` into ``<out>/index`` (unless a finished build with these settings is
    there) and store the queries; returns the build's record (``<out>/build.json``)."""
    from scene3d.repository import AddOutcome, SceneIndex
    from scene3d.teachers import label_embedding_teacher

    record_file = args.out / "build.json"
    wanted = {"rooms": args.rooms, "seed": args.seed, "queried": args.queried, "distractors": args.distractors}
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        if {k: record.get(k) for k in wanted} == wanted:
            return record
        raise SystemExit(f"{args.out} holds a build for {record}; use another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    teacher = label_embedding_teacher()
    index = SceneIndex(args.out / "index")
    queries, t_index, added = [], 0.0, 0
    for i in tqdm(range(args.rooms + args.distractors), desc="rooms"):
        indexed = i < args.rooms
        scene = room(i, args.seed)
        if indexed:
            t0 = time.perf_counter()
            outcome = index.add(dataclasses.replace(scene, frames=[f for k, f in enumerate(scene.frames)
                                                                   if k not in HELD_OUT]), teacher=teacher)
            if outcome is AddOutcome.ADDED:  # not a room that an interrupted build already indexed
                t_index += time.perf_counter() - t0
                added += 1
        if i < args.queried or not indexed:
            queries += [(dataclasses.replace(scene, frames=[scene.frames[k]]), scene.frames[k], indexed)
                        for k in HELD_OUT]  # the scene (objects) is the label teacher's context
    index.faiss_index("views")
    with open(args.out / "queries.pkl", "wb") as f:
        pickle.dump(queries, f)
    import scene3d

    record = {**wanted, "indexing_s_per_room": t_index / max(added, 1), "timed_rooms": added,
              "built_with": str(Path(scene3d.__file__).parent.parent),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    record_file.write_text(json.dumps(record))
    return record


def query(args: argparse.Namespace) -> dict:
    """Run the stored queries against the index with the package on ``sys.path``; the measured numbers."""
    from scene3d.repository import SceneIndex, pose_error
    from scene3d.repository.localize import view_descriptor
    from scene3d.teachers import label_embedding_teacher

    with open(args.out / "queries.pkl", "rb") as f:
        queries = pickle.load(f)  # written by build() above, from this benchmark's own generated rooms
    teacher = label_embedding_teacher()
    index = SceneIndex(args.out / "index")
    view_ids, views = index.view_vectors()
    view_ids = np.array(view_ids)
    index.faiss_index("views")  # loaded before the first timed query
    half = views.shape[1] - 64  # [teacher part, colour part]
    stats = {"top1": 0, "retrieval": 0, "teacher_only": 0, "colour_only": 0, "shortlisted": 0, "false": 0}
    errors, times, teacher_times = [], [], []
    for scene, frame, indexed in tqdm(queries, desc="queries", disable=not sys.stderr.isatty()):
        t0 = time.perf_counter()
        hits = index.search_image(frame, teacher, context=scene, candidates=args.candidates)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        teacher_map = teacher(scene, frame)
        teacher_times.append(time.perf_counter() - t0)
        if not indexed:
            stats["false"] += bool(hits)
            continue
        desc = view_descriptor(teacher_map, frame.rgb)
        for key, cols in (("retrieval", slice(None)), ("teacher_only", slice(0, half)),
                          ("colour_only", slice(half, None))):
            stats[key] += bool(view_ids[np.argmax(views[:, cols] @ desc[cols])] == scene.scene_id)
        order = np.argsort(-(views @ desc))
        stats["shortlisted"] += scene.scene_id in list(dict.fromkeys(view_ids[order]))[:args.candidates]
        if hits and hits[0].key == scene.scene_id:
            stats["top1"] += 1
            errors.append(pose_error(hits[0].cam_to_world, frame.cam_to_world))
    n = sum(indexed for _, _, indexed in queries)
    err = np.array(errors).reshape(-1, 2)
    keys = np.unique(view_ids)
    stored = index.db.execute("SELECT AVG(LENGTH(xyz) + LENGTH(descriptors)) FROM landmarks").fetchone()[0]
    return {
        "queries": n, "false_queries": len(queries) - n,
        **{k: v / n for k, v in stats.items() if k != "false"}, "false": stats["false"],
        "pose_cm": float(np.median(err[:, 0]) * 100) if len(err) else None,
        "pose_deg": float(np.median(err[:, 1])) if len(err) else None,
        "within": float(np.mean((err[:, 0] < 0.1) & (err[:, 1] < 2.0))) if len(err) else 0.0,
        "p50_ms": float(np.median(times) * 1000), "p90_ms": float(np.percentile(times, 90) * 1000),
        "teacher_p50_ms": float(np.median(teacher_times) * 1000),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "views": len(view_ids), "rooms": len(keys),
        "landmarks_per_room": float(np.mean([len(index.landmarks(k)) for k in keys])),
        "landmark_kb_per_room": stored / 1000,
        "index_mib": sum(f.stat().st_size for f in (args.out / "index").iterdir()) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=200, help="rooms indexed")
    ap.add_argument("--queried", type=int, default=None, help="indexed rooms queried (default: all)")
    ap.add_argument("--distractors", type=int, default=40, help="rooms queried but not indexed")
    ap.add_argument("--seed", type=int, default=9000, help="room i is generated with seed + i")
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_image_search"))
    ap.add_argument("--code", type=Path, nargs="*", default=[], help="other checkouts to measure on the same index")
    ap.add_argument("--query-only", action="store_true", help=argparse.SUPPRESS)  # one checkout's query process
    args = ap.parse_args()
    args.queried = args.rooms if args.queried is None else min(args.queried, args.rooms)
    args.out = args.out.resolve()
    torch.set_num_threads(1)
    if args.query_only:
        print(json.dumps(query(args)))
        return
    record = build(args)
    here = Path(__file__).resolve().parent.parent
    rows = []
    for code in [here, *args.code]:
        env = {**os.environ, "PYTHONPATH": str(code.resolve()), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--query-only", "--out", str(args.out),
               "--rooms", str(args.rooms), "--queried", str(args.queried), "--distractors", str(args.distractors),
               "--seed", str(args.seed), "--candidates", str(args.candidates)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"the queries with {code} failed:\n{done.stderr[-3000:]}")
        rows.append((code, json.loads(done.stdout.strip().splitlines()[-1])))
    r0 = rows[0][1]
    print(f"{args.rooms} indexed rooms (seeds {args.seed}..{args.seed + args.rooms - 1}, {r0['views']} views), "
          f"{r0['queries']} held-out queries of {args.queried} of them, {r0['false_queries']} queries of "
          f"{args.distractors} rooms not indexed; indexing {record['indexing_s_per_room']:.2f} s per room "
          f"(over the {record['timed_rooms']} rooms this build added) "
          f"({record['built_with']}); index on disk {r0['index_mib']:.1f} MiB; landmarks per room "
          f"{r0['landmarks_per_room']:.0f}, stored {r0['landmark_kb_per_room']:.1f} kB per room")
    print("| code | verified top-1 | retrieval top-1 (teacher / colour half) | in the verified | pose error median "
          "| within 10 cm, 2 deg | false accepts | query p50 / p90 | teacher full pass p50 | peak memory |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for code, r in rows:
        pose = f"{r['pose_cm']:.2f} cm, {r['pose_deg']:.3f} deg" if r["pose_cm"] is not None else "-"
        print(f"| {code} | {r['top1']:.1%} | {r['retrieval']:.1%} ({r['teacher_only']:.1%} / {r['colour_only']:.1%}) "
              f"| {r['shortlisted']:.1%} | {pose} | {r['within']:.1%} | {r['false']}/{r['false_queries']} "
              f"| {r['p50_ms']:.0f} / {r['p90_ms']:.0f} ms | {r['teacher_p50_ms']:.0f} ms | {r['peak_rss_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
