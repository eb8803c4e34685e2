"""Instance proposals on scans with their labels stripped (issue 19), printed as Markdown tables.

    python benchmarks/bm_instances.py --synth ROOT [--split val,test] [--unseen ROOT] [--checkpoint RUN]
                                      [--set proposals.key=value ...]

* Synthetic rooms (``scene3d generate``; the ``--split`` scenes of each ``--synth`` root, every scene of
  each ``--unseen`` root): the labels are stripped (:func:`scene3d.instances.strip_labels`), proposals made without and
  with the pretrain run, and matched to the true instances by **point-mask IoU**: recall (true instances
  with a proposal at IoU >= t), class-agnostic AP (proposals ranked by their score), over all instances
  and over objects only (true walls / floors / ceilings and the proposals found as planes left out); zero-shot label accuracy: of the
  proposals matched at IoU >= 0.5, those whose label is the true instance's (run's training classes).
* The real sample scans (``../shared/data/scannet/scenes``): scene0000_00 against its ScanNet (v1)
  instances by mask IoU; scene0470_00 has no instance segmentation, so against its ScanNet v2 object
  boxes (``meta/objects_train_scenes.json.gz``) by axis-aligned **box IoU** (recall only); scene0000_00
  by box IoU as well, for comparison. With the run, the labels of the proposals matched at mask IoU >= 0.5 that
  equal the scan's own (v1) label: the run's synthetic class names against ScanNet's.
* Time per scene: proposals (no checkpoint) on scene0000_00's mesh sampled to 100,000 points, against
  a peer in the same run: the kNN query alone (``cKDTree``, k = 11) on those points, and the student's
  forward pass (``point_features``) when a checkpoint is given. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from scipy.spatial import cKDTree

from scene3d.config import dataclass_from
from scene3d.geometry.boxes import aabb_iou
from scene3d.instances import (
    PlaneConfig,
    ProposalConfig,
    SegmentConfig,
    average_precision,
    proposal_scores,
    propose,
    strip_labels,
)
from scene3d.io import import_plain, import_scannet, list_scene_folders, load_gt_object_scenes, load_scene
from scene3d.io.scene_folder import read_split

DATA = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
THRESHOLDS = (0.25, 0.5)


def _config(sets: list[str]) -> ProposalConfig:
    """The default settings with ``proposals.key=value`` overrides (the command's YAML keys)."""
    from scene3d.config import compose

    group = compose("segment-instances", ["scene=x", *sets]).proposals
    return dataclass_from(ProposalConfig, group, "proposals", group=False,
                          planes=dataclass_from(PlaneConfig, group.planes, "proposals.planes"),
                          segments=dataclass_from(SegmentConfig, group.segments, "proposals.segments"))


def _synth_scenes(roots: list[Path], split: list[str]) -> list:
    out = []
    for root in roots:
        keep = set().union(*(read_split(root, s) for s in split)) if split else None
        out += [load_scene(f, mesh=False) for f in list_scene_folders(root) if keep is None or f.name in keep]
    return out


def _mask_row(name: str, results: dict[float, list], exclude_note: str) -> str:
    cells = []
    for t in THRESHOLDS:
        rs = results[t]
        found, total = sum(r.found for r in rs), sum(r.num_true for r in rs)
        cells += [f"{100 * found / max(total, 1):.1f} % ({found}/{total})", f"{100 * average_precision(rs):.1f}"]
    return f"| {name} | {exclude_note} | " + " | ".join(cells) + " |"


def synthetic(scenes: list, config: ProposalConfig, checkpoint: Path | None) -> None:
    runs = [("no checkpoint", None)] + ([(f"checkpoint {checkpoint.name}", checkpoint)] if checkpoint else [])
    print(f"\n{len(scenes)} synthetic rooms, labels stripped; mask IoU\n")
    print("| proposals | instances | recall@0.25 | AP@0.25 | recall@0.5 | AP@0.5 |\n|---|---|---|---|---|---|")
    for name, ck in runs:
        every = {t: [] for t in THRESHOLDS}
        objects = {t: [] for t in THRESHOLDS}
        seconds, labels = 0.0, [0, 0]
        for scene in scenes:
            t0 = time.perf_counter()
            pred = propose(strip_labels(scene), checkpoint=ck, config=config)
            seconds += time.perf_counter() - t0
            for t in THRESHOLDS:
                every[t].append(proposal_scores(scene, pred, t))
                objects[t].append(proposal_scores(scene, pred, t, objects_only=True))
            labels[0] += objects[0.5][-1].label_hits
            labels[1] += objects[0.5][-1].label_total
        print(_mask_row(name, every, "all"))
        print(_mask_row(name, objects, "objects (no wall/floor/ceiling)"))
        note = f"; label accuracy of matched objects (IoU >= 0.5): {100 * labels[0] / max(labels[1], 1):.1f} % " \
               f"({labels[0]}/{labels[1]})" if ck else ""
        print(f"\n{name}: {seconds / len(scenes):.2f} s per room{note}\n")


def _box_recall(truth_boxes: list, pred) -> dict[float, tuple[int, int]]:
    boxes = [o.box for o in pred.objects]
    best = [max((aabb_iou(b, p) for p in boxes), default=0.0) for b in truth_boxes]
    return {t: (sum(b >= t for b in best), len(best)) for t in THRESHOLDS}


def real(config: ProposalConfig, checkpoint: Path | None) -> None:
    scans = DATA / "scannet" / "scenes"
    gt = load_gt_object_scenes(DATA / "scannet" / "meta" / "objects_train_scenes.json.gz",
                               scene_ids={"scene0000_00", "scene0470_00"})
    print("\nReal sample scans, labels stripped\n")
    print("| scan | proposals | truth | IoU | recall@0.25 | recall@0.5 | AP@0.25 | AP@0.5 | label = truth (IoU >= 0.5) |\n"
          "|---|---|---|---|---|---|---|---|---|")
    runs = [("no checkpoint", None)] + ([(f"checkpoint {checkpoint.name}", checkpoint)] if checkpoint else [])
    for scan in ("scene0000_00", "scene0470_00"):
        scene, _ = import_scannet(scans / scan)
        for name, ck in runs:
            pred = propose(strip_labels(scene), checkpoint=ck, config=config)
            if scene.objects:
                for label, only in (("v1 instances, all", False), ("v1 instances, objects", True)):
                    rs = {t: proposal_scores(scene, pred, t, objects_only=only) for t in THRESHOLDS}
                    cells = [f"{100 * rs[t].found / max(rs[t].num_true, 1):.1f} % ({rs[t].found}/{rs[t].num_true})"
                             for t in THRESHOLDS] + [f"{100 * average_precision([rs[t]]):.1f}" for t in THRESHOLDS]
                    hits = f"{rs[0.5].label_hits}/{rs[0.5].label_total}" if ck else "-"
                    print(f"| {scan} | {name} | {label} | mask | " + " | ".join(cells) + f" | {hits} |")
            boxes = _box_recall([o.box for o in gt[scan].objects], pred)
            cells = [f"{100 * f / max(n, 1):.1f} % ({f}/{n})" for f, n in boxes.values()]
            print(f"| {scan} | {name} | v2 object boxes ({len(pred.objects)} proposals) | box | "
                  + " | ".join(cells) + " | - | - | - |")


def timing(checkpoint: Path | None, config: ProposalConfig, repeats: int) -> None:
    mesh = DATA / "scannet" / "scenes" / "scene0000_00" / "scene0000_00_vh_clean_2.ply"
    scene = import_plain(mesh, sample_points=100_000, seed=0)
    rows = []
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cKDTree(scene.points).query(scene.points, k=11)
        t.append(time.perf_counter() - t0)
    peer = min(t)
    rows.append(("kNN query alone (cKDTree, k=11): the peer", peer))
    if checkpoint is not None:
        from scene3d.distill import load_student, point_features

        model, _ = load_student(checkpoint)
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            point_features(model, scene)
            t.append(time.perf_counter() - t0)
        rows.append(("student forward (point_features)", min(t)))
    for name, ck in [("proposals, no checkpoint", None)] + ([("proposals with the checkpoint", checkpoint)]
                                                            if checkpoint else []):
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pred = propose(scene, checkpoint=ck, config=config)
            t.append(time.perf_counter() - t0)
        rows.append((f"{name} ({len(pred.objects)} proposals)", min(t)))
    print(f"\nTime on scene0000_00's mesh sampled to {scene.num_points:,} points (best of {repeats})\n")
    print("| step | seconds | ratio to the peer |\n|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.2f} | {s / peer:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synth", type=Path, nargs="*", default=[], help="roots of generated rooms")
    ap.add_argument("--split", default="val,test", help="splits of the --synth roots to evaluate")
    ap.add_argument("--unseen", type=Path, nargs="*", default=[], help="roots of generated rooms, every scene evaluated")
    ap.add_argument("--checkpoint", type=Path, default=None, help="a pretrain run (labels, merging)")
    ap.add_argument("--set", nargs="*", default=[], help="proposals.key=value overrides")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats")
    ap.add_argument("--skip", nargs="*", default=[], choices=["synthetic", "real", "timing"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = _config(args.set)
    print(f"machine: {platform.node()} ({os.cpu_count()} cores), torch threads 1; settings: "
          f"{' '.join(args.set) or 'defaults'}")
    if (args.synth or args.unseen) and "synthetic" not in args.skip:
        scenes = _synth_scenes(args.synth, args.split.split(",")) + _synth_scenes(args.unseen, [])
        synthetic(scenes, config, args.checkpoint)
    if (DATA / "scannet").is_dir() and "real" not in args.skip:
        real(config, args.checkpoint)
    if (DATA / "scannet").is_dir() and "timing" not in args.skip:
        timing(args.checkpoint, config, args.repeats)


if __name__ == "__main__":
    main()
