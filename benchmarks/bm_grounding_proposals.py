"""Grounding on predicted objects (the ScanRefer detection protocol) against grounding on the
true objects, on the same sentences, with STAND-IN proposals made from the true objects.

    python benchmarks/bm_grounding_proposals.py --held-out /work/runs/real_held_out.txt \
        [--checkpoint <model>] [--synth <generated dataset> --synth-split test --synth-limit 600] \
        [--seeds 0 1] [--json out.json]

The proposals are :func:`scene3d.grounding.standins.standin_proposals` of each scene's true
objects with :class:`~scene3d.grounding.standins.StandInNoise` (5 % missed, 5 % merged with a
neighbour, 5 % split in two, boxes jittered by 10 % of their size, 3 classes each, the others drawn
from the scene's own classes): "labels right": the top class is always the true one (box noise
only); "swap 30 %": the top class is wrong 30 % of the time, the true
class then second, whatever the scores say; "calibrated": the true class is the k-th with
probability the k-th score. Not a detector's output. Each sentence is
grounded among its scene's proposals and scored by the axis-aligned 3D IoU of the chosen box with
the TRUE target's box (Acc@0.25 / Acc@0.5), next to the same sentences grounded among the true
objects; "T = 1" reads each proposal's class distribution as given, "T = 0.5" sharpened
(scores squared, renormalised), "T = 0" its top class only (:func:`~scene3d.grounding.data.sharpen_labels`). "upper bound": some proposal
reaches the IoU. Real: ScanRefer and Nr3D sentences of the ``--held-out`` scenes (true objects:
``objects_train_scenes.json.gz``); synthetic: the generated language of ``--synth``'s split.
Needs ../shared/data (or $SCENE3D_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from scene3d.grounding import Grounder, GroundingDataset
from scene3d.grounding.data import sharpen_labels
from scene3d.grounding.detection import evaluate_detection
from scene3d.grounding.real import read_language, read_scene_list
from scene3d.grounding.standins import StandInNoise, standin_proposals
from scene3d.io import load_gt_object_scenes, load_scene_folders, read_utterances_jsonl
from scene3d.io.scene_folder import read_split

DATA = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LANG = DATA / "language"
OBJECTS = DATA / "scannet" / "meta" / "objects_train_scenes.json.gz"
REAL = {"ScanRefer": LANG / "ScanRefer_filtered_train_sampled1000.json", "Nr3D": LANG / "nr3d_train_sampled1000.csv"}


def real_sets(held_out: Path) -> dict[str, GroundingDataset]:
    keep = read_scene_list(held_out)
    utts = {name: [u for u in read_language(path) if u.scene_id in keep] for name, path in REAL.items()}
    scenes = load_gt_object_scenes(OBJECTS, scene_ids={u.scene_id for us in utts.values() for u in us})
    return {name: GroundingDataset.build(scenes, us) for name, us in utts.items()}


def synth_set(root: Path, split: str, limit: int) -> GroundingDataset:
    keep = read_split(root, split)
    scenes = load_scene_folders(root, keep)
    utts = [u for u in read_utterances_jsonl(root / "language.jsonl") if u.scene_id in keep and u.kind == "referral"]
    data = GroundingDataset.build(scenes, utts)
    return GroundingDataset(data.scenes, data.examples[:limit])


#: label temperatures (:func:`scene3d.grounding.data.sharpen_labels`): 1 the scores as given, 0 the top label only
TEMPERATURES = (1.0, 0.5, 0.0)
NOISES = {"labels right": StandInNoise(label_swap=0.0), "swap 30 %": StandInNoise(),
          "calibrated": StandInNoise(calibrated=True)}


def measure(grounder: Grounder, data: GroundingDataset, noise: StandInNoise, seed: int) -> dict:
    proposals = {s.scene_id: standin_proposals(s, noise, seed=seed) for s in data.scenes}
    t0 = time.perf_counter()
    out, truth = {"seed": seed}, None
    for t in TEMPERATURES:
        report = evaluate_detection(grounder.model, grounder.cache, data,
                                    {k: sharpen_labels(v, t) for k, v in proposals.items()},
                                    rotations=grounder.rotations, true_objects=truth)
        truth = report.true_objects
        out[f"T={t}"] = report.to_json()
    return {**out, "seconds": time.perf_counter() - t0}


def row(name: str, r: dict) -> str:
    first = r[f"T={TEMPERATURES[0]}"]
    t, u = first["true_objects"], first["upper_bound"]
    cells = " | ".join(f"{r[f'T={x}']['proposals']['acc25']:.1%} / {r[f'T={x}']['proposals']['acc50']:.1%}"
                       for x in TEMPERATURES)
    return (f"| {name}, seed {r['seed']} | {t['n']} | {t['acc25']:.1%} / {t['acc50']:.1%} | {cells} | "
            f"{u['acc25']:.1%} / {u['acc50']:.1%} | {first['proposals_per_scene']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=None, help="a model or run (default: the packaged model)")
    ap.add_argument("--held-out", type=Path, required=True, help="real scene ids, one a line")
    ap.add_argument("--synth", type=Path, default=None, help="a generated dataset with language.jsonl")
    ap.add_argument("--synth-split", default="test")
    ap.add_argument("--synth-limit", type=int, default=600, help="its first N referrals")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--noises", nargs="+", default=list(NOISES), choices=list(NOISES))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    grounder = Grounder.from_checkpoint(args.checkpoint, device="cpu")
    sets = real_sets(args.held_out)
    if args.synth is not None:
        sets[f"synthetic {args.synth_split}"] = synth_set(args.synth, args.synth_split, args.synth_limit)
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, torch threads 1, "
          f"model {args.checkpoint or 'packaged'}")
    print("| sentences, stand-in noise | n | true objects Acc@0.25 / 0.5 | "
          + " | ".join(f"proposals, T = {t:g}" for t in TEMPERATURES) + " | upper bound | proposals / scene |")
    print("|---" * (5 + len(TEMPERATURES)) + "|")
    results = {}
    for name, data in sets.items():
        for label in args.noises:
            noise = NOISES[label]
            for seed in args.seeds:
                r = measure(grounder, data, noise, seed)
                results.setdefault(f"{name}, {label}", []).append(r)
                print(row(f"{name}, {label}", r), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint or "packaged"),
                                         "noise": {k: vars(v) for k, v in NOISES.items()}, "results": results}, indent=1))


if __name__ == "__main__":
    main()
