"""Grounding accuracy on real held-out ScanNet scenes (ground-truth objects and labels), for
several runs in one table, and the false alarms of the low-confidence flag.

    python benchmarks/bm_grounding_real.py --runs runs/R1 runs/R2 [--packaged] \
        --held-out runs/real_held_out.txt [--json out.json] [--int8 folder|on|off] [--misses]

Evaluates Nr3D (ReferIt3D protocol), Sr3D (all four CSVs) and ScanRefer (Acc@0.25) sentences
whose scene is listed in ``--held-out`` (scenes no run trained on), each against the exact
class-random floor. Then, for each run, the low-confidence flag on the held-out Nr3D and
ScanRefer sentences: in their own scene (the class is there: a flag is a false alarm) and in a
held-out scene without the target's class (a flag is right).
Needs ../shared/data (or $SCENE3D_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from scene3d.geometry.boxes import aabb_iou
from scene3d.grounding import Grounder, GroundingDataset, class_random_floor, evaluate
from scene3d.grounding.evaluation import predict
from scene3d.grounding.real import read_language, read_scene_list
from scene3d.io import load_gt_object_scenes

DATA = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LANG = DATA / "language"
OBJECTS = DATA / "scannet" / "meta" / "objects_train_scenes.json.gz"
FILES = {"Nr3D": [LANG / "nr3d_train_sampled1000.csv"],
         "Sr3D": [LANG / f"sr3d_train_{k}.csv" for k in ("allocentric", "between", "support", "vertical")],
         "ScanRefer": [LANG / "ScanRefer_filtered_train_sampled1000.json"]}


def load(held_out: Path) -> tuple[dict, dict[str, GroundingDataset]]:
    keep = read_scene_list(held_out)
    utts = {name: [u for f in files for u in read_language(f) if u.scene_id in keep] for name, files in FILES.items()}
    scenes = load_gt_object_scenes(OBJECTS, scene_ids={u.scene_id for us in utts.values() for u in us})
    return scenes, {name: GroundingDataset.build(scenes, us) for name, us in utts.items()}


def accuracy_rows(name: str, grounder: Grounder, data: dict[str, GroundingDataset]) -> dict:
    out = {}
    for lang, ds in data.items():
        report = evaluate(grounder.model, grounder.cache, ds, rotations=grounder.rotations)
        out[lang] = report.to_json()
    nr, sr, sc = out["Nr3D"], out["Sr3D"], out["ScanRefer"]
    print(f"| {name} | {nr['referit3d']['overall']:.1%} ({nr['referit3d']['easy']:.1%} / {nr['referit3d']['hard']:.1%}) "
          f"| {sr['referit3d']['overall']:.1%} ({sr['referit3d']['easy']:.1%} / {sr['referit3d']['hard']:.1%}) "
          f"| {sc['scanrefer']['acc25']:.1%} ({sc['scanrefer']['unique25']:.1%} / {sc['scanrefer']['multiple25']:.1%}) |",
          flush=True)
    return out


def unique_misses(grounder: Grounder, data: GroundingDataset) -> None:
    """Print the ScanRefer sentences whose target's class is unique in its scene and whose
    answer misses it (IoU < 0.25), with the asked class (``Vocabulary.first_named``)."""
    preds = predict(grounder.model, grounder.cache, data, rotations=grounder.rotations)
    for ex, pred in zip(data.examples, preds):
        scene, utt = data.scenes[ex.scene], ex.utterance
        target, answer = scene.object(utt.target_id), scene.object(pred)
        if sum(o.label == target.label for o in scene.objects) == 1 and aabb_iou(answer.box, target.box) < 0.25:
            asked = grounder.vocabulary.first_named(utt.text, [o.label for o in scene.objects])
            print(f"* {scene.scene_id}: {utt.text!r} -> {answer.label} {answer.object_id} "
                  f"(target: {target.label} {target.object_id}; asked: {asked})")


def false_alarms(grounder: Grounder, data: dict[str, GroundingDataset], seed: int = 0) -> dict:
    """Flag rates: in the own scene (false alarms) and in a scene without the target class."""
    rng = np.random.default_rng(seed)
    own, other = [], []
    for lang in ("Nr3D", "ScanRefer"):
        ds = data[lang]
        for ex in ds.examples:
            scene = ds.scenes[ex.scene]
            label = scene.objects[ex.target].label
            own.append(grounder.ground(scene, ex.utterance.text, top_k=1).low_confidence)
            lacking = [s for s in ds.scenes if all(o.label != label for o in s.objects)]
            if lacking:
                other.append(grounder.ground(lacking[int(rng.integers(len(lacking)))], ex.utterance.text,
                                             top_k=1).low_confidence)
    return {"false_alarm_rate": float(np.mean(own)), "n_present": len(own),
            "flag_rate_class_absent": float(np.mean(other)), "n_absent": len(other)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, nargs="*", default=[])
    ap.add_argument("--packaged", action="store_true", help="also the model packaged with scene3d")
    ap.add_argument("--held-out", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-flags", action="store_true", help="skip the low-confidence measurement")
    ap.add_argument("--misses", action="store_true", help="list each run's unique-class ScanRefer misses")
    ap.add_argument("--int8", choices=["folder", "on", "off"], default="folder",
                    help="sentences encoded by an int8 MiniLM: the model folder's choice (config.json int8), on or off")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scenes, data = load(args.held_out)
    print(f"machine: {platform.machine()}, 1 thread; {len(scenes)} held-out scenes; "
          + ", ".join(f"{k} {len(v.examples)}" for k, v in data.items()))
    floor = {lang: class_random_floor([ex.utterance for ex in ds.examples], {s.scene_id: s for s in ds.scenes})
             for lang, ds in data.items()}
    print("| run | Nr3D overall (easy / hard) | Sr3D overall (easy / hard) | ScanRefer Acc@0.25 (unique / multiple) |")
    print("|---|---|---|---|")
    fr, fs = floor["Nr3D"][0], floor["Sr3D"][0]
    fsc = floor["ScanRefer"][1]
    print(f"| class-random floor | {fr.overall:.1%} ({fr.easy:.1%} / {fr.hard:.1%}) | {fs.overall:.1%} "
          f"({fs.easy:.1%} / {fs.hard:.1%}) | {fsc.acc25:.1%} ({fsc.unique25:.1%} / {fsc.multiple25:.1%}) |")
    results = {}
    models = [(str(r), r) for r in args.runs] + ([("packaged", None)] if args.packaged else [])
    for name, path in models:
        grounder = Grounder.from_checkpoint(path, int8={"folder": None, "on": True, "off": False}[args.int8])
        results[name] = {"accuracy": accuracy_rows(name, grounder, data)}
        if args.misses:
            unique_misses(grounder, data["ScanRefer"])
        if not args.no_flags:
            results[name]["flags"] = false_alarms(grounder, data)
    if not args.no_flags:
        print("\n| run | flagged with the class present (false alarms) | flagged with the class absent |\n|---|---|---|")
        for name, r in results.items():
            f = r["flags"]
            print(f"| {name} | {f['false_alarm_rate']:.1%} of {f['n_present']} | "
                  f"{f['flag_rate_class_absent']:.1%} of {f['n_absent']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
