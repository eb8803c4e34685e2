"""2D-3D feature distillation on synthetic scenes: zero-shot 3D segmentation, ray-marched vs projection
losses, per-view consistency, and CPU cost per step.

    python benchmarks/bm_distill.py --train 24 --test 6 --steps 150 --out runs/bm_distill
    python benchmarks/bm_distill.py --part timing --points 100000
    python benchmarks/bm_distill.py --train 8 --test 4 --points 30000 --depth-noise 5 --depth-holes 0.3 \
        --variants ray-marched projection projection-zbuffer      # a degraded-depth regime

Protocol (OpenScene): class names of all generated scenes embedded with MiniLM; a point's class is
the argmax cosine; one confusion matrix over the held-out scenes; mIoU over the classes present.
Compared on the same held-out scenes:
  * teacher fusion: the corrupted label-embedding teacher fused onto the points by projection with a
    depth test, averaged over the scene's views (no learning); unseen points have no prediction;
  * student (ray-marched): trained with rendered-feature cosine + rendered-depth L1;
  * student (projection): trained with the direct point-projection cosine (OpenScene-style 3D
    distillation), the same steps, batch, views and scenes;
  * "<student> + fusion ensemble (<rule>)": the 2D-3D ensemble (``ensemble_features``) with each rule of
    ``ENSEMBLE_RULES`` (``cosine`` = OpenScene's; ``confidence`` at ``--temperature``).
The feature loss of both students is ``--loss`` (cosine | text | batch) with ``--balance``.
Per-view: pixel accuracy of the teacher's maps and of the student rendered back into the same
views (GT from the instance masks), and cross-view agreement (how often two views that see the same
point give it the same class).
Degraded-depth regimes (issue 16 item 3): ``--depth-noise`` (Gaussian, cm), ``--depth-holes``
(share of depth pixels set to 0), ``--no-depth`` (share of each room's frames without a depth map),
applied to the training and held-out rooms alike (the fused teacher sees the degraded depth);
``--frames`` sets the views per room. The projection students differ only in their visibility
test (``DistillConfig.occlusion``): ``projection`` = the frame depth (point z-buffer where a frame
has none), ``projection-zbuffer`` = always the point z-buffer of the room, ``projection-none`` = no
test. "Seen points", the per-view ground truth and the cross-view agreement always use the exact
depth. ``targets`` reports, per visibility test on the training rooms, how many of its
point-pixel pairs are wrong: the point is hidden there (exact depth) or its class differs from the
pixel's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from scene3d.distill import (
    ENSEMBLE_RULES,
    FUSED_WEIGHT,
    OCCLUSION,
    DistillConfig,
    DistillStudent,
    DistillTask,
    StudentConfig,
    Views,
    confusion_matrix,
    cross_view_agreement,
    ensemble_features,
    frame_classes,
    fuse_views,
    load_student,
    point_classes,
    point_features,
    predict_classes,
    pretrain,
    scene_views,
    segmentation_scores,
    student_input,
    superpoint_mean,
    visible_points,
)
from scene3d.instances import superpoints as scene_superpoints
from scene3d.synth import SynthConfig, generate_scene
from scene3d.teachers import label_embedding_teacher
from scene3d.train import LoopConfig, item_generator, resolve_precision
from scene3d.train.precision import for_training

DOWNSCALE = 2
TOL = 0.05


def synthetic_rooms(first: int, n: int, points: int, frames: int) -> list:
    cfg = SynthConfig(num_points=points, num_frames=frames, width=160, height=120)
    return [generate_scene(f"bm_{i:04d}", 1000 + i, config=cfg) for i in range(first, first + n)]


def degrade_depth(scenes: list, noise_cm: float, holes: float, no_depth: float, seed: int) -> list:
    """Copies of ``scenes`` with worse depth: Gaussian noise of ``noise_cm`` on valid pixels, a share
    ``holes`` of the pixels set to 0 (invalid), and the depth map removed from a share ``no_depth`` of
    each room's frames (rounded, drawn at random)."""
    rng = np.random.default_rng(seed)
    out = []
    for scene in scenes:
        drop = set(rng.permutation(len(scene.frames))[:round(no_depth * len(scene.frames))].tolist())
        frames = []
        for i, f in enumerate(scene.frames):
            depth = None
            if f.depth is not None and i not in drop:
                depth = f.depth + (rng.normal(0.0, noise_cm / 100, f.depth.shape) * (f.depth > 0)).astype(np.float32)
                depth[(rng.random(f.depth.shape) < holes) | (depth < 0)] = 0.0
            frames.append(replace(f, depth=depth))
        out.append(replace(scene, frames=frames))
    return out


def _exact(views: Views, scene, teacher) -> Views:
    """``views`` with the exact depth of ``scene`` (the undegraded room)."""
    exact = scene_views(scene, teacher)
    return replace(views, depth=exact.depth, has_depth=exact.has_depth)


def target_errors(scenes, truth, classes, teacher) -> dict:
    """Per visibility test (``OCCLUSION``) on ``scenes`` (degraded depth), all points and frames: the
    point-pixel pairs it makes, the share of them whose point is hidden at that pixel (no match
    under the exact depth of ``truth``), the share whose point class differs from the pixel's
    (both labelled), and the share of the exact pairs it finds."""
    out = {m: {"pairs": 0, "hidden": 0, "wrong_class": 0, "labelled": 0, "found": 0, "exact_pairs": 0}
           for m in OCCLUSION}
    for scene, clean in zip(scenes, truth, strict=True):
        pts = torch.from_numpy(scene.points).float()
        views = scene_views(scene, teacher)
        b = len(scene.frames)
        exact = visible_points(_exact(views, clean, teacher), pts, TOL)
        exact_keys = exact.point_indices * b + exact.frame_indices
        gt = point_classes(scene, classes)
        gt_view = torch.stack([frame_classes(scene, i, classes, DOWNSCALE) for i in range(b)])
        for mode, acc in out.items():
            m = visible_points(views, pts, TOL, mode)
            keys = m.point_indices * b + m.frame_indices
            hit = torch.isin(keys, exact_keys)
            pc, xc = gt[m.point_indices], gt_view[m.frame_indices, m.pixels[:, 1], m.pixels[:, 0]]
            lab = (pc >= 0) & (xc >= 0)
            acc["pairs"] += len(keys)
            acc["hidden"] += int((~hit).sum())
            acc["labelled"] += int(lab.sum())
            acc["wrong_class"] += int((lab & (pc != xc)).sum())
            acc["found"] += int(hit.sum())
            acc["exact_pairs"] += len(exact_keys)
    return {m: {"pairs": a["pairs"], "hidden_share": a["hidden"] / max(a["pairs"], 1),
                "wrong_class_share": a["wrong_class"] / max(a["labelled"], 1),
                "exact_pairs_found": a["found"] / max(a["exact_pairs"], 1)} for m, a in out.items()}


def _vote(features: torch.Tensor, groups: torch.Tensor | None) -> torch.Tensor:
    """``features`` voted within the superpoints ``groups`` (as they are when None)."""
    return features if groups is None else superpoint_mean(features, groups)


def _evaluate(scenes, classes, text, teacher, students: dict[str, DistillStudent], temperature: float,
              truth: list | None = None, turns: int = 1, superpoints: bool = False,
              fused_weight: float = FUSED_WEIGHT) -> dict:
    """Point mIoU (all points / points seen by >= 1 view) and per-view consistency for each method
    (the ensembles with every rule of ``ENSEMBLE_RULES``, ``confidence`` at ``temperature``).
    ``truth``: the rooms with exact depth when ``scenes`` have degraded depth (the fused teacher uses
    ``scenes``; seen points and cross-view matches use ``truth``). ``turns``: the students' point
    features voted over that many turns about the vertical (``point_features``; views: as they are).
    ``superpoints``: every method's point features (fusion, students, ensembles) voted within the
    room's superpoints (``scene3d.instances.superpoints``, ``superpoint_mean``) before scoring.
    ``fused_weight``: the teacher's exponent in the ``product`` ensemble."""
    k = len(classes)
    conf = {m: torch.zeros(k, k + 1, dtype=torch.long)
            for m in ["fusion", *students, *(f"{n} + fusion ensemble ({r})" for n in students for r in ENSEMBLE_RULES)]}
    conf_seen = {m: torch.zeros(k, k + 1, dtype=torch.long) for m in conf}
    view_conf = {m: torch.zeros(k, k + 1, dtype=torch.long) for m in ["teacher", *students]}
    agree: dict[str, list[float]] = {m: [] for m in view_conf}
    seen_total = points_total = 0
    for scene, clean in zip(scenes, truth or scenes, strict=True):
        gt = point_classes(scene, classes)
        pts = torch.from_numpy(scene.points).float()
        views = scene_views(scene, teacher)
        fused = fuse_views(views, pts, TOL)
        matches = visible_points(views if truth is None else _exact(views, clean, teacher), pts, TOL)
        seen = torch.bincount(matches.point_indices, minlength=len(pts)) > 0
        seen_total += int(seen.sum())
        points_total += len(seen)
        gt_view = torch.stack([frame_classes(scene, i, classes, DOWNSCALE) for i in range(len(scene.frames))])
        groups = torch.from_numpy(scene_superpoints(scene)) if superpoints else None
        vote = partial(_vote, groups=groups)
        preds = {"fusion": predict_classes(vote(fused.features), text)}
        view_pred = {"teacher": predict_classes(views.features, text)}
        for name, model in students.items():
            with torch.no_grad():
                x = student_input(scene, model.config.voxel_size, model.config.normals)
                out = model(x)
                feats = out.point_features(x.points) if turns == 1 else point_features(model, scene, turns)
                preds[name] = predict_classes(vote(feats), text)
                for rule in ENSEMBLE_RULES:
                    ens = ensemble_features(fused.features, feats, text, rule, temperature, fused_weight)
                    preds[f"{name} + fusion ensemble ({rule})"] = predict_classes(vote(ens), text)
                rendered = out.render(views.cameras)
            maps = rendered.features.view(len(scene.frames), views.cameras.height, views.cameras.width, -1)
            view_pred[name] = predict_classes(maps, text)
        for m, p in preds.items():
            conf[m] += confusion_matrix(p, gt, k)
            conf_seen[m] += confusion_matrix(p[seen], gt[seen], k)
        for m, p in view_pred.items():
            view_conf[m] += confusion_matrix(p.flatten(), gt_view.flatten(), k)
            agree[m].append(cross_view_agreement(matches, p, len(pts), k))
    result = {"coverage": seen_total / points_total}
    for m, c in conf.items():
        all_s, seen_s = segmentation_scores(c), segmentation_scores(conf_seen[m])
        result[m] = {"miou": all_s.miou, "acc": all_s.accuracy, "miou_seen": seen_s.miou, "acc_seen": seen_s.accuracy}
    for m, c in view_conf.items():
        s = segmentation_scores(c)
        result.setdefault(m, {}).update({"view_miou": s.miou, "view_acc": s.accuracy,
                                         "cross_view_agreement": sum(agree[m]) / len(agree[m])})
    return result


def segmentation(args) -> dict:
    t0 = time.perf_counter()
    train_exact = synthetic_rooms(0, args.train, args.points, args.frames)
    test_exact = synthetic_rooms(args.train, args.test, args.points, args.frames)
    degraded = args.depth_noise > 0 or args.depth_holes > 0 or args.no_depth > 0
    train, test = train_exact, test_exact
    if degraded:
        train = degrade_depth(train_exact, args.depth_noise, args.depth_holes, args.no_depth, seed=1)
        test = degrade_depth(test_exact, args.depth_noise, args.depth_holes, args.no_depth, seed=2)
    classes = sorted({o.label for s in train + test for o in s.objects})
    teacher = label_embedding_teacher(swap_prob=args.swap, noise=args.noise, blur_sigma=args.blur, dropout=args.dropout,
                                      downscale=DOWNSCALE, vocabulary=classes)
    clean = label_embedding_teacher(swap_prob=0, noise=0, blur_sigma=0, dropout=0, downscale=DOWNSCALE,
                                    text_encoder=teacher.encoder)
    text = teacher.embed_text(classes)
    print(f"data: {len(train)} train / {len(test)} test scenes, {len(classes)} classes, "
          f"{sum(s.num_points for s in train + test) / len(train + test):.0f} points/scene ({time.perf_counter() - t0:.1f} s)")
    loop = LoopConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, warmup=args.warmup,
                      checkpoint_every=args.steps, seed=args.seed)
    student_cfg = StudentConfig(voxel_size=args.voxel, hidden=args.hidden, blocks=args.blocks, normals=args.normals,
                                decoder_channels=tuple(args.decoder_channels))
    loss = dict(feature_loss=args.loss, temperature=args.temperature, balance=args.balance, num_anchors=args.anchors,
                views_per_item=args.views)
    variants = {
        "ray-marched": DistillConfig(w_feature=1.0, w_depth=0.1, w_projection=0.0, num_rays=args.rays, **loss),
        **{f"projection{suffix}": DistillConfig(w_feature=0.0, w_depth=0.0, w_projection=1.0,
                                                projection_points=args.proj_points, augment=args.augment,
                                                augment_kind=args.augment_kind, augment_scale=args.augment_scale,
                                                target=args.target, cache_views=args.cache_views,
                                                occlusion=occlusion, **loss)
           for suffix, occlusion in (("", "depth"), ("-zbuffer", "zbuffer"), ("-none", "none"))},
    }
    students, train_seconds = {}, {}
    for name, dcfg in ((n, variants[n]) for n in args.variants):
        if args.reuse:
            students[name], state = load_student(args.out / name)
            print(f"loaded {name} from {args.out / name} (step {state.step})")
            continue
        t = time.perf_counter()
        students[name] = pretrain(train, teacher, args.out / name, student_cfg, dcfg, loop, progress=False,
                                  precision=args.precision)
        train_seconds[name] = time.perf_counter() - t
        print(f"trained {name}: {args.steps} steps x {args.batch} scenes in {train_seconds[name]:.0f} s")
    result = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "classes": len(classes), "train_seconds": train_seconds,
        "test": _evaluate(test, classes, text, teacher, students, args.temperature, test_exact if degraded else None,
                          args.turns, args.superpoints, args.fused_weight),
        "train_scenes": _evaluate(train[: args.test], classes, text, teacher, students, args.temperature,
                                  train_exact[: args.test] if degraded else None, args.turns, args.superpoints,
                                  args.fused_weight),
        "clean_teacher_test": _evaluate(test, classes, text, clean, {}, args.temperature,
                                        test_exact if degraded else None)["fusion"],
        "targets": target_errors(train, train_exact, classes, teacher),
    }
    return result


def timing(args) -> dict:
    """Seconds per training step and peak resident memory for one scene of ~``args.points`` points."""
    scene = synthetic_rooms(0, 1, args.points, args.frames)[0]
    teacher = label_embedding_teacher(downscale=DOWNSCALE)
    teacher.embed_text(scene.label_set())
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"points": scene.num_points}
    projection = DistillConfig(w_feature=0, w_depth=0, w_projection=1, views_per_item=args.views,
                               projection_points=args.proj_points)
    variants = {"ray-marched": DistillConfig(views_per_item=args.views, num_rays=args.rays),
                "projection": projection,
                # the `scene3d pretrain` default: text + balanced loss, a new any-angle turn (re-voxelised) per step
                "projection, pretrain default (augment any)": replace(
                    projection, feature_loss="text", balance=True, augment=True, augment_kind="any", augment_scale=0.1)}
    for name, dcfg in variants.items():
        torch.manual_seed(0)
        model = DistillStudent(StudentConfig(voxel_size=args.voxel, feature_dim=teacher.dim,
                                             decoder_channels=tuple(args.decoder_channels)))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        task = DistillTask([scene], teacher, args.voxel, dcfg)
        net = for_training(model, resolve_precision(args.precision, "cpu"))
        times = []
        for step in range(args.timing_steps):
            t = time.perf_counter()
            opt.zero_grad()
            task.losses(net, [0], [0], item_generator(0, step, 0))["loss"].backward()
            opt.step()
            times.append(time.perf_counter() - t)
        steady = sorted(times[1:])
        out[name] = {"seconds_per_step_median": steady[len(steady) // 2], "first_step": times[0]}
    out["voxels"] = int(task.inputs[0].voxels.num_points)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_training_mb"] = rss0 / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["segmentation", "timing"], default="segmentation")
    ap.add_argument("--train", type=int, default=24)
    ap.add_argument("--test", type=int, default=6)
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--voxel", type=float, default=0.05)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--rays", type=int, default=2048)
    ap.add_argument("--proj-points", type=int, default=8192)
    ap.add_argument("--swap", type=float, default=0.3)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--blur", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--variants", nargs="+", choices=["ray-marched", "projection", "projection-zbuffer", "projection-none"],
                    default=["ray-marched", "projection"])
    ap.add_argument("--depth-noise", type=float, default=0.0, help="Gaussian depth noise, cm (degraded regime)")
    ap.add_argument("--depth-holes", type=float, default=0.0, help="share of depth pixels set to 0 (invalid)")
    ap.add_argument("--no-depth", type=float, default=0.0, help="share of each room's frames without a depth map")
    ap.add_argument("--loss", choices=["cosine", "text", "batch"], default="cosine",
                    help="feature loss (DistillConfig.feature_loss)")
    ap.add_argument("--temperature", type=float, default=0.07)
    ap.add_argument("--anchors", type=int, default=1024)
    ap.add_argument("--balance", action="store_true", help="class-balanced pair weights")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--decoder-channels", type=int, nargs=4, default=list(StudentConfig.decoder_channels),
                    help="width per decoder level, the last at stride 1 (StudentConfig's default)")
    ap.add_argument("--normals", action="store_true", help="feed point normals to the student")
    ap.add_argument("--augment", action="store_true", help="floor-plane symmetries of the rooms (projection student)")
    ap.add_argument("--augment-kind", choices=["square", "any"], default="square",
                    help="with --augment: the 8 symmetries of the square, or any angle + mirror + --augment-scale")
    ap.add_argument("--augment-scale", type=float, default=0.0, help="with --augment-kind any: scale jitter half-width")
    ap.add_argument("--warmup", type=int, default=10, help="learning-rate warm-up steps (then cosine decay to 0)")
    ap.add_argument("--cache-views", action="store_true",
                    help="projection student: keep the teacher maps after first use (same numbers, less time)")
    ap.add_argument("--target", choices=["view", "fused"], default="view",
                    help="projection student's target: one view's teacher pixel, or the teacher fused over the room's views")
    ap.add_argument("--reuse", action="store_true", help="evaluate the students already trained in --out (no training)")
    ap.add_argument("--turns", type=int, default=1,
                    help="score the students voted over this many turns of each room about the vertical (test-time augmentation)")
    ap.add_argument("--superpoints", action="store_true",
                    help="score every method voted within each room's superpoints (the proposals' over-segmentation)")
    ap.add_argument("--fused-weight", type=float, default=FUSED_WEIGHT,
                    help="the fused teacher's exponent in the product ensemble (1 = the plain product)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training loop (draws, augmentation, initialisation)")
    ap.add_argument("--timing-steps", type=int, default=4)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="training precision (bf16: CPU autocast, the sparse GEMMs in bf16; scene3d.train.precision)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bm_distill"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = segmentation(args) if args.part == "segmentation" else timing(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.part}.json"
    path.write_text(json.dumps(result, indent=1))
    json.dump(result, sys.stdout, indent=1)
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
