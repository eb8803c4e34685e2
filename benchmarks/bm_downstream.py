"""Downstream value of pretraining: 3D semantic segmentation fine-tuned from the distilled backbone vs
from random initialisation, and linear probes on frozen features, with a share of the labels.

    python benchmarks/bm_downstream.py --out runs/bm_downstream                       # pretrains first
    python benchmarks/bm_downstream.py --pretrained <pretrain run> --out runs/bm_downstream

Rooms: the synthetic rooms of ``bm_distill.py`` (``bm_0000``...). Pretraining (``scene3d pretrain``'s
default recipe, ``configs/pretrain.yaml``) sees the first ``--pretrain-rooms`` rooms without labels;
fine-tuning uses the point labels of the first ``--train`` of them, thinned to each ``--fractions``
share (``scene3d.distill.keep_labels``, seeded); scores are on the next ``--test`` rooms, which
pretraining never saw. Closed set: the object classes of the training rooms (held-out points of other
classes are not scored); one confusion matrix over the held-out rooms; mIoU over the classes present.

Grid, per seed and fraction (``scene3d.distill.finetune`` / ``linear_probe``, same loop settings for
both inits): fine-tuned from the pretrained backbone; from a random one (seeded); a linear probe on the
pretrained backbone's frozen point features; the same probe on a random backbone's (its floor). For
reference, the pretrained student zero-shot (argmax cosine of its features to the MiniLM class-name
embeddings; no labels).
Results are written to ``<out>/downstream.json`` after every cell; a rerun skips the cells it holds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from bm_distill import synthetic_rooms

from scene3d.distill import (
    DistillConfig,
    DistillStudent,
    StudentConfig,
    backbone_point_features,
    confusion_matrix,
    finetune,
    linear_probe,
    load_student,
    point_classes,
    point_features,
    predict_classes,
    predict_points,
    pretrain,
    segmentation_scores,
    student_input,
)
from scene3d.io.atomic import atomic_write_text
from scene3d.teachers import label_embedding_teacher
from scene3d.train import LoopConfig

METHODS = ("pretrained fine-tuned", "scratch fine-tuned", "pretrained linear probe", "random linear probe")


def default_pretrain(scenes, out: Path) -> DistillStudent:
    """Pretrain with ``configs/pretrain.yaml``'s recipe (teacher, student, losses, loop) into ``out``."""
    from hydra.utils import instantiate

    from scene3d.config import compose, dataclass_from

    cfg = compose("pretrain", ["data=unused", f"out={out}"])
    return pretrain(scenes, instantiate(cfg.teacher), out, dataclass_from(StudentConfig, cfg.student, "student"),
                    dataclass_from(DistillConfig, cfg.distill, "distill"), dataclass_from(LoopConfig, cfg.loop, "loop"),
                    progress=False, device="cpu", precision="fp32")


def miou(predict, scenes, classes) -> float:
    """Held-out mIoU of ``predict(scene) -> (N,) class index`` over ``scenes`` (one confusion matrix)."""
    k = len(classes)
    conf = torch.zeros(k, k + 1, dtype=torch.long)
    for scene in scenes:
        conf += confusion_matrix(predict(scene), point_classes(scene, classes), k)
    return segmentation_scores(conf).miou


def probe_predictor(probe, backbone, config):
    def predict(scene):
        with torch.no_grad():
            return probe(backbone_point_features(backbone, student_input(scene, config.voxel_size, config.normals))
                         ).argmax(dim=-1)
    return predict


def run_cell(method: str, fraction: float, seed: int, pre: DistillStudent, train, test, classes, args) -> float:
    folder = args.out / "runs" / f"{method.replace(' ', '_')}_f{fraction:g}_s{seed}"
    if method.endswith("fine-tuned"):
        loop = LoopConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, warmup=10, checkpoint_every=args.steps,
                          seed=seed)
        init = pre if method.startswith("pretrained") else pre.config
        net = finetune(train, classes, folder, fraction, init, loop)
        return miou(lambda s: predict_points(net, s), test, classes)
    loop = LoopConfig(steps=args.probe_steps, batch_size=args.probe_batch, lr=args.probe_lr, warmup=10,
                      checkpoint_every=args.probe_steps, seed=seed)
    if method.startswith("pretrained"):
        backbone = pre.backbone
    else:
        torch.manual_seed(seed)
        backbone = DistillStudent(pre.config).backbone
    probe = linear_probe(backbone, train, classes, folder, fraction, pre.config, loop)
    return miou(probe_predictor(probe, backbone, pre.config), test, classes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pretrained", type=Path, default=None,
                    help="a pretrain run folder to reuse (default: pretrain into <out>/pretrain)")
    ap.add_argument("--pretrain-rooms", type=int, default=24)
    ap.add_argument("--train", type=int, default=16)
    ap.add_argument("--test", type=int, default=6)
    ap.add_argument("--points", type=int, default=60000)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=100, help="fine-tuning steps")
    ap.add_argument("--batch", type=int, default=1, help="rooms per fine-tuning step")
    ap.add_argument("--lr", type=float, default=0.005, help="peak fine-tuning learning rate (AdamW)")
    ap.add_argument("--probe-steps", type=int, default=300)
    ap.add_argument("--probe-batch", type=int, default=4)
    ap.add_argument("--probe-lr", type=float, default=0.01)
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_downstream"))
    args = ap.parse_args()
    if args.train > args.pretrain_rooms:
        ap.error("--train rooms are taken from the pretraining rooms: --train <= --pretrain-rooms")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rooms = synthetic_rooms(0, args.pretrain_rooms, args.points, args.frames)
    train, test = rooms[:args.train], synthetic_rooms(args.pretrain_rooms, args.test, args.points, args.frames)
    classes = sorted({o.label for s in train for o in s.objects})
    if args.pretrained is not None:
        pre, state = load_student(args.pretrained)
        source = f"{args.pretrained} (step {state.step})"
    else:
        pre = default_pretrain(rooms, args.out / "pretrain").cpu()
        source = f"{args.out / 'pretrain'} (configs/pretrain.yaml recipe)"
    print(f"pretrained: {source}; {len(train)} labelled training rooms, {len(test)} held-out, {len(classes)} classes "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    path = args.out / "downstream.json"
    result = json.loads(path.read_text()) if path.is_file() else {"cells": {}}
    result["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result["classes"] = len(classes)
    if "zero-shot student" not in result:   # the reference without labels: argmax cosine to the class names
        text = label_embedding_teacher().embed_text(classes)
        result["zero-shot student"] = miou(lambda s: predict_classes(point_features(pre, s), text), test, classes)
        print(f"zero-shot student (no labels): held-out mIoU {100 * result['zero-shot student']:.1f} %", flush=True)
    for seed in args.seeds:
        for fraction in args.fractions:
            for method in args.methods:
                key = f"{method} | {fraction:g} | {seed}"
                if key in result["cells"]:
                    continue
                t = time.perf_counter()
                score = run_cell(method, fraction, seed, pre, train, test, classes, args)
                result["cells"][key] = {"miou": score, "seconds": time.perf_counter() - t}
                print(f"{key}: held-out mIoU {100 * score:.1f} % ({time.perf_counter() - t:.0f} s)", flush=True)
                args.out.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(result, indent=1))
    table = {}
    for method in args.methods:
        for fraction in args.fractions:
            scores = [result["cells"][f"{method} | {fraction:g} | {s}"]["miou"] for s in args.seeds
                      if f"{method} | {fraction:g} | {s}" in result["cells"]]
            table[f"{method} | {fraction:g}"] = {"mean": statistics.mean(scores), "min": min(scores),
                                                 "max": max(scores), "n": len(scores)}
    result["table"] = table
    atomic_write_text(path, json.dumps(result, indent=1))
    json.dump(table, sys.stdout, indent=1)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
