"""Several distilled students averaged (seeds of one recipe): zero-shot mIoU of the fused teacher,
each student, and for every subset of two or more students their mean and its product ensemble with
the fused teacher, on the held-out rooms of ``bm_distill.py`` (same rooms, teacher and classes).

    python benchmarks/bm_distill_seeds.py --runs runs/b900_seed0/projection runs/b900_seed1/projection \\
        runs/b900_seed2/projection --turns 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bm_distill import DOWNSCALE, TOL, synthetic_rooms  # noqa: E402

from scene3d.distill import (  # noqa: E402
    FUSED_WEIGHT,
    confusion_matrix,
    ensemble_features,
    fuse_views,
    load_student,
    point_classes,
    point_features,
    predict_classes,
    scene_views,
    segmentation_scores,
)
from scene3d.teachers import label_embedding_teacher  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", type=Path, required=True, help="students trained by bm_distill.py")
    ap.add_argument("--train", type=int, default=24)
    ap.add_argument("--test", type=int, default=6)
    ap.add_argument("--points", type=int, default=60000)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--fused-weight", type=float, default=FUSED_WEIGHT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train = synthetic_rooms(0, args.train, args.points, args.frames)
    test = synthetic_rooms(args.train, args.test, args.points, args.frames)
    classes = sorted({o.label for s in train + test for o in s.objects})
    teacher = label_embedding_teacher(swap_prob=0.3, noise=0.3, blur_sigma=1.0, dropout=0.1, downscale=DOWNSCALE,
                                      vocabulary=classes)
    text = teacher.embed_text(classes)
    models = [load_student(r)[0] for r in args.runs]
    k = len(classes)
    subsets = [c for n in range(2, len(models) + 1) for c in itertools.combinations(range(len(models)), n)]
    tags = {c: "+".join(map(str, c)) for c in subsets}
    names = ["fused", *(f"student {i}" for i in range(len(models))),
             *(f"{w} {tags[c]}" for c in subsets for w in ("mean", "ensemble"))]
    conf = {n: torch.zeros(k, k + 1, dtype=torch.long) for n in names}
    for scene in test:
        gt = point_classes(scene, classes)
        fused = fuse_views(scene_views(scene, teacher), torch.from_numpy(scene.points).float(), TOL).features
        each = [F.normalize(point_features(m, scene, args.turns), dim=-1) for m in models]
        feats = {"fused": fused, **{f"student {i}": f for i, f in enumerate(each)}}
        for c in subsets:
            mean = torch.stack([each[i] for i in c]).mean(dim=0)
            feats[f"mean {tags[c]}"] = mean
            feats[f"ensemble {tags[c]}"] = ensemble_features(fused, mean, text, fused_weight=args.fused_weight)
        for n, f in feats.items():
            conf[n] += confusion_matrix(predict_classes(f, text), gt, k)
    print(json.dumps({n: round(100 * segmentation_scores(c).miou, 2) for n, c in conf.items()}, indent=1))


if __name__ == "__main__":
    main()
