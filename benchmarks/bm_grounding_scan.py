"""Ten sentences of our own about the real sample scan scene0000_00, grounded on the imported
scan (its own v1 labels: "trashcan", "tv", "couch"...), printed as a Markdown table.

    python benchmarks/bm_grounding_scan.py [--checkpoint RUN]   # default: the packaged model

The sentences and their answers were written from the scan's object list before any model
was run on them; scene0000_00 is in no training run's data (it is in the held-out list of
the measurement runs and left out of the packaged model's training).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from scene3d.grounding import Grounder
from scene3d.io import import_scannet

SCAN = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "scannet" / "scenes" / "scene0000_00"

#: (sentence, the object id it refers to in the scan's v1 annotation)
SENTENCES = [
    ("the bed", 37),
    ("the small trash can by the bed", 14),
    ("the stool farthest from the fridge", 30),
    ("the nightstand with the tissue box on it", 49),
    ("the window above the toilet", 1),
    ("the cabinet next to the desk", 39),
    ("the microwave above the toaster oven", 52),
    ("the pillow on the bed", 16),
    ("the black tv in the corner", 15),
    ("the sofa next to the bookshelf", 32),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    scene, _ = import_scannet(SCAN)
    grounder = Grounder.from_checkpoint(args.checkpoint)
    print("| sentence | answer (score) | second | right |\n|---|---|---|---|")
    right = 0
    for text, target in SENTENCES:
        result = grounder.ground(scene, text, top_k=2)
        first, second = result.ranked
        right += first.object_id == target
        flag = " (low confidence)" if result.low_confidence else ""
        print(f"| {text} | {first.label} {first.object_id} ({first.score:.2f}){flag} | {second.label} {second.object_id} "
              f"({second.score:.2f}) | {'yes' if first.object_id == target else f'no ({target})'} |")
    print(f"\n{right} of {len(SENTENCES)} right")
    for text in ("the trash can near the door", "the trashcan near the door", "the grand piano"):
        result = grounder.ground(scene, text, top_k=2)
        print(f"{text!r}: " + ", ".join(f"{r.label} {r.object_id} ({r.score:.2f})" for r in result.ranked)
              + (f"; low confidence (asks for {result.asked_class!r})" if result.low_confidence else ""))


if __name__ == "__main__":
    main()
