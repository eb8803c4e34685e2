"""Image queries in a scene repository: which room is this photo of, and from where?

    python benchmarks/bm_image_search.py --rooms 200 --distractors 40

Every room is generated with 12 frames on a loop through the room (eye height and view
target drawn per frame); frames 0 and 6 are held out as queries and the other 10 are indexed
(view descriptors with the label teacher + SIFT landmarks). Queries from ``--distractors``
rooms that are not indexed measure false accepts (any hit is one).

Reports: verified top-1 (the first hit is the right room), retrieval-only top-1 (the nearest
view descriptor's room) for the full descriptor and for its teacher and colour halves alone,
shortlist recall (the right room among the ``candidates`` verified), the pose error of correct
hits (median, and the share within 10 cm and 2 degrees), query time (also less the teacher's
forward pass on the query, timed separately), indexing time, landmarks and their stored bytes per room.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scene3d.repository import SceneIndex, pose_error
from scene3d.repository.localize import view_descriptor
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene
from scene3d.teachers import label_embedding_teacher

HELD_OUT = (0, 6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--distractors", type=int, default=40)
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_image_search"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    shutil.rmtree(args.out, ignore_errors=True)
    cfg = SynthConfig(num_points=3000, min_object_points=20, num_frames=12)
    teacher = label_embedding_teacher()
    index = SceneIndex(args.out / "index")
    queries, t_index = [], 0.0
    for i in tqdm(range(args.rooms + args.distractors), desc="rooms"):
        room = generate_scene(f"r{i:04d}", 9000 + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)
        indexed = i < args.rooms
        if indexed:
            t0 = time.perf_counter()
            index.add(dataclasses.replace(room, frames=[f for k, f in enumerate(room.frames) if k not in HELD_OUT]),
                      teacher=teacher)
            t_index += time.perf_counter() - t0
        queries += [(room, room.frames[k], indexed) for k in HELD_OUT]
    view_ids, views = index.view_vectors()
    view_ids = np.array(view_ids)
    half = views.shape[1] - 64  # [teacher part, colour part]
    stats = {"top1": 0, "retrieval": 0, "teacher_only": 0, "colour_only": 0, "shortlisted": 0, "false": 0}
    errors, times, teacher_times = [], [], []
    for room, frame, indexed in tqdm(queries, desc="queries"):
        t0 = time.perf_counter()
        hits = index.search_image(frame, teacher, context=room, candidates=args.candidates)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        teacher_map = teacher(room, frame)
        teacher_times.append(time.perf_counter() - t0)
        if not indexed:
            stats["false"] += bool(hits)
            continue
        desc = view_descriptor(teacher_map, frame.rgb)
        for key, cols in (("retrieval", slice(None)), ("teacher_only", slice(0, half)),
                          ("colour_only", slice(half, None))):
            stats[key] += view_ids[np.argmax(views[:, cols] @ desc[cols])] == room.scene_id
        order = np.argsort(-(views @ desc))
        stats["shortlisted"] += room.scene_id in list(dict.fromkeys(view_ids[order]))[:args.candidates]
        if hits and hits[0].key == room.scene_id:
            stats["top1"] += 1
            errors.append(pose_error(hits[0].cam_to_world, frame.cam_to_world))
    n = 2 * args.rooms
    err = np.array(errors)
    good = float(np.mean((err[:, 0] < 0.1) & (err[:, 1] < 2.0))) if len(err) else 0.0
    print(f"{args.rooms} indexed rooms ({len(view_ids)} views, 10 per room), {n} held-out queries, "
          f"{2 * args.distractors} queries from {args.distractors} rooms not indexed")
    print(f"  verified top-1 {stats['top1'] / n:.1%}; retrieval-only top-1 {stats['retrieval'] / n:.1%} "
          f"(teacher half {stats['teacher_only'] / n:.1%}, colour half {stats['colour_only'] / n:.1%}); "
          f"right room in the {args.candidates} verified {stats['shortlisted'] / n:.1%}")
    if len(err):
        print(f"  pose error of correct hits: median {np.median(err[:, 0]) * 100:.1f} cm, {np.median(err[:, 1]):.2f} deg; "
              f"within 10 cm and 2 deg: {good:.1%}")
    print(f"  false accepts (queries of rooms not indexed with a hit): {stats['false']}/{2 * args.distractors}")
    print(f"  query p50 {np.median(times) * 1000:.0f} ms, p90 {np.percentile(times, 90) * 1000:.0f} ms; "
          f"less the teacher's pass: p50 {np.median(np.subtract(times, teacher_times)) * 1000:.0f} ms "
          f"(teacher p50 {np.median(teacher_times) * 1000:.0f} ms); "
          f"indexing {t_index / args.rooms:.2f} s per room (10 views); index on disk "
          f"{sum(f.stat().st_size for f in (args.out / 'index').iterdir()) / 2**20:.1f} MiB")
    stored = index.db.execute("SELECT AVG(LENGTH(xyz) + LENGTH(descriptors)) FROM landmarks").fetchone()[0]
    print(f"  landmarks per room: {np.mean([len(index.landmarks(k)) for k in np.unique(view_ids)]):.0f}, "
          f"stored {stored / 1000:.1f} kB per room (positions + descriptors)")


if __name__ == "__main__":
    main()
