"""Commands of 2D-3D feature distillation: ``pretrain``, ``features``,
``eval-segmentation``, ``segment``."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from scene3d.config import dataclass_from, need
from scene3d.errors import ConfigError
from scene3d.runtime import is_main_process


def _run_teacher(cfg: DictConfig, state):
    """The teacher of ``cfg.teacher``, else the one ``scene3d pretrain`` recorded in the run (``state``).

    Raises:
        ConfigError: neither is there.
    """
    from scene3d.distill import run_teacher

    try:
        return run_teacher(state, cfg.teacher)
    except ConfigError as exc:
        raise ConfigError(f"{cfg.checkpoint}: {exc}") from None


def _students(cfg: DictConfig, device):
    """The student of ``cfg.checkpoint`` (a pretrain run or checkpoint folder), or the list of students
    of a run of members or of ``checkpoint=[run, ...]`` (seeds of one recipe: their unit features are
    averaged), and the first one's training state.

    Raises:
        ConfigError: an empty list, or runs that record different teachers (without ``teacher=``).
    """
    import json

    from omegaconf import ListConfig

    from scene3d.distill import load_student, member_folders

    paths = [str(p) for p in cfg.checkpoint] if isinstance(cfg.checkpoint, ListConfig) else [need(cfg, "checkpoint")]
    if not paths:
        raise ConfigError("checkpoint=[] names no pretrain run")
    loaded = [load_student(folder, device=device) for path in paths for folder in member_folders(path)]
    teachers = {json.dumps(state.extra.get("notes", {}).get("teacher"), sort_keys=True) for _, state in loaded}
    if len(teachers) > 1 and cfg.teacher is None:
        raise ConfigError(f"checkpoint={paths}: the runs record different teachers, so their features live in "
                          "different spaces; give runs of one teacher (or teacher={_target_: ...} if they agree)")
    models = [model for model, _ in loaded]
    return (models if len(models) > 1 else models[0]), loaded[0][1]


def _training_folders(cfg: DictConfig) -> list[Path]:
    """The scene folders ``scene3d pretrain`` trains on (``cfg.data``, its split ``cfg.split``).

    Raises:
        ConfigError: no scene folder there.
    """
    from scene3d.io import list_scene_folders

    data = Path(need(cfg, "data"))
    folders = list_scene_folders(data)
    if cfg.split is not None:
        from scene3d.io.scene_folder import read_split

        keep = read_split(data, cfg.split)
        folders = [f for f in folders if f.name in keep]
    if not folders:
        raise ConfigError(f"no scene folders to train on in {data} (split={cfg.split})")
    return folders


def _pretrain_one(cfg: DictConfig, folders: list[Path], settings: tuple, out: Path, progress: bool) -> None:
    """Train one student on the scenes of ``folders`` into ``out`` (or resume it); ``settings`` are its
    (StudentConfig, DistillConfig, LoopConfig), the teacher and device come from ``cfg``."""
    from scene3d.distill import pretrain
    from scene3d.io import load_scene
    from scene3d.teachers import build_teacher

    scenes = [load_scene(f, mesh=False) for f in folders]
    teacher = build_teacher(cfg.teacher)
    notes = {"teacher": OmegaConf.to_container(cfg.teacher, resolve=True), "data": str(cfg.data), "split": cfg.split}
    pretrain(scenes, teacher, out, *settings, progress=progress, notes=notes, device=str(cfg.device),
             precision=str(cfg.precision))


def _pretrain_member(config: dict, folders: list[Path], settings: tuple, out: Path) -> None:
    """:func:`_pretrain_one` in a worker process, without a progress bar (``config``: a plain
    container, so that it crosses the process boundary)."""
    from scene3d.runtime import configure_threads

    configure_threads()
    _pretrain_one(OmegaConf.create(config), folders, settings, out, progress=False)


def _steps_done(folder: Path) -> int:
    """The last step logged in ``folder/metrics.csv`` (0 before the first)."""
    try:
        last = (folder / "metrics.csv").read_text().strip().splitlines()[-1]
        return int(float(last.split(",")[0]))
    except (OSError, IndexError, ValueError):
        return 0


def _pretrain_members(cfg: DictConfig, folders: list[Path], settings: tuple, plan: list[tuple[Path, int]],
                      workers: int) -> None:
    """Train the students of ``plan`` (``(run folder, seed)`` each; ``settings`` with that seed), up to
    ``workers`` at once, each in its own process with the thread policy's threads; a progress bar
    counts the steps of all.

    A member's error is raised once the members already running have ended (their work is kept
    for a resume); members not yet started do not start.
    """
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from dataclasses import replace
    from multiprocessing import get_context

    from tqdm import tqdm

    student, distill, loop = settings
    jobs = [(folder, (student, distill, replace(loop, seed=seed))) for folder, seed in plan]
    if workers == 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:   # one after another (torchrun: each with DDP)
        for folder, member in jobs:
            _pretrain_one(cfg, folders, member, folder, cfg.progress)
        return
    config = OmegaConf.to_container(cfg, resolve=True)
    bar = tqdm(total=len(plan) * loop.steps, desc=f"pretrain {len(plan)} members", unit="step", disable=not cfg.progress)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(_pretrain_member, config, folders, member, folder) for folder, member in jobs}
        try:
            while pending:
                done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                bar.update(sum(_steps_done(folder) for folder, _ in plan) - bar.n)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            bar.close()


def cmd_pretrain(cfg: DictConfig) -> int:
    from scene3d.distill import DistillConfig, StudentConfig, plan_members
    from scene3d.io import list_scene_folders
    from scene3d.train import LoopConfig, resolve_device, resolve_precision

    resolve_precision(cfg.precision, resolve_device(cfg.device))   # a bad device or precision fails before the data loads
    settings = (dataclass_from(StudentConfig, cfg.student, "student"),    # so do contradicting settings
                dataclass_from(DistillConfig, cfg.distill, "distill"),    # (e.g. augment + ray-marched)
                dataclass_from(LoopConfig, cfg.loop, "loop"))
    if not isinstance(cfg.members, int) or cfg.members < 1:
        raise ConfigError(f"pretrain: members must be an integer >= 1 (students in the run), got {cfg.members!r}")
    if cfg.workers is not None and (not isinstance(cfg.workers, int) or cfg.workers < 1):
        raise ConfigError(f"pretrain: workers must be an integer >= 1 or null (all members at once), got {cfg.workers!r}")
    workers = cfg.members if cfg.workers is None else min(cfg.workers, cfg.members)
    folders = _training_folders(cfg)
    out = Path(need(cfg, "out"))
    plan = plan_members(out, cfg.members, cfg.loop.seed)
    if is_main_process():
        data = Path(cfg.data)
        which = (f"the {len(folders)} scenes of split {cfg.split!r} ({data / 'splits' / f'{cfg.split}.txt'}; "
                 f"split=null takes all {len(list_scene_folders(data))})") if cfg.split is not None \
            else f"all {len(folders)} scenes of {data}"
        students = (f"{cfg.members} students (seeds {cfg.loop.seed}..{cfg.loop.seed + cfg.members - 1}, "
                    f"{workers} at a time)") if cfg.members > 1 else "one student"
        print(f"pretrain: {students} on {which}; loading them, voxelising them and building the teacher "
              "(the first step also renders its views: it takes longer than the others)", flush=True)
    t0 = time.perf_counter()
    if cfg.members > 1:
        _pretrain_members(cfg, folders, settings, plan, workers)
    else:
        _pretrain_one(cfg, folders, settings, out, cfg.progress)
    import torch.distributed as dist

    if dist.is_initialized():  # launched by torchrun
        dist.destroy_process_group()
    if is_main_process():
        what = "checkpoints/, metrics.csv, metrics.png" if cfg.members == 1 else \
            f"members.json, member_0..{cfg.members - 1}/ (each: checkpoints/, metrics.csv, metrics.png)"
        print(f"pretrain: {len(folders)} scenes, {cfg.members} x {cfg.loop.steps} steps in "
              f"{time.perf_counter() - t0:.0f} s -> {out} ({what})")
    return 0


def _turns(cfg: DictConfig) -> int:
    """``cfg.turns``, the student's test-time turns about the vertical (an int >= 1)."""
    if cfg.turns < 1:
        raise ConfigError(f"turns must be an integer >= 1 (test-time turns of the student), got {cfg.turns!r}")
    return cfg.turns


def _superpoints(cfg: DictConfig):
    """:func:`scene3d.instances.superpoints` when ``cfg.superpoints`` is true, else None."""
    if not cfg.superpoints:
        return None
    from scene3d.instances import superpoints

    return superpoints


def cmd_features(cfg: DictConfig) -> int:
    import json

    import torch
    from safetensors.torch import save_file

    from scene3d.distill import (
        detect_keypoints,
        point_features,
        scene_descriptor,
    )
    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_path, atomic_write_text
    from scene3d.train import resolve_device

    if cfg.dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be float16 or float32, got {cfg.dtype}")
    device = resolve_device(cfg.device)
    scene = load_scene(need(cfg, "scene"), frames=False, mesh=False)
    model, state = _students(cfg, device)
    t0 = time.perf_counter()
    feats = point_features(model, scene, _turns(cfg))  # (N, D)
    points = torch.from_numpy(scene.points).float()
    kp = detect_keypoints(points, feats, radius=cfg.nms_radius, max_keypoints=cfg.keypoints)
    desc = scene_descriptor(feats)
    seconds = time.perf_counter() - t0
    out = Path(need(cfg, "out"))
    tensors = {"point_features": feats.to(getattr(torch, cfg.dtype)).contiguous(), "keypoint_indices": kp.indices,
               "keypoint_positions": kp.positions, "keypoint_scores": kp.scores,
               "keypoint_descriptors": kp.descriptors.contiguous(), "scene_descriptor": desc}
    with atomic_path(out / "features.safetensors") as tmp:
        save_file(tensors, str(tmp))
    summary = {"scene_id": scene.scene_id, "num_points": scene.num_points, "dim": int(feats.shape[1]),
               "keypoints": int(kp.indices.numel()), "checkpoint": str(cfg.checkpoint), "step": state.step,
               "seconds": seconds}
    atomic_write_text(out / "features.json", json.dumps(summary, indent=1))
    print(f"features: {scene.scene_id}: {scene.num_points:,} points x {feats.shape[1]} in {seconds:.1f} s, "
          f"{kp.indices.numel()} keypoints, descriptor {desc.numel()}-d -> {out / 'features.safetensors'}")
    return 0


def cmd_eval_segmentation(cfg: DictConfig) -> int:
    import json

    from scene3d.distill import ENSEMBLE_RULES, evaluate_segmentation
    from scene3d.io import list_scene_folders, load_scene
    from scene3d.io.atomic import atomic_write_text
    from scene3d.train import resolve_device

    data = Path(need(cfg, "data"))
    if not cfg.fused_weight >= 0:
        raise ConfigError(f"eval-segmentation: fused_weight must be >= 0 (the teacher's share of ensemble=product), "
                          f"got {cfg.fused_weight}")
    if cfg.ensemble not in ENSEMBLE_RULES:
        raise ConfigError(f"eval-segmentation: ensemble={cfg.ensemble} is not one of {', '.join(ENSEMBLE_RULES)}")
    model, state = _students(cfg, resolve_device(cfg.device))
    teacher = _run_teacher(cfg, state)
    folders = list_scene_folders(data)
    if cfg.split is not None:
        from scene3d.io.scene_folder import read_split

        keep = read_split(data, cfg.split)
        folders = [f for f in folders if f.name in keep]
    scenes = [load_scene(f, mesh=False) for f in folders[:cfg.limit]]
    if not scenes:
        raise ConfigError(f"no scene folders to evaluate in {data} (split={cfg.split})")
    classes = list(cfg.classes) if cfg.classes is not None else sorted({o.label for s in scenes for o in s.objects})
    t0 = time.perf_counter()
    report = evaluate_segmentation(scenes, model, teacher, classes, cfg.tolerance, cfg.ensemble,
                                   cfg.temperature, _turns(cfg), _superpoints(cfg), cfg.fused_weight)
    print(f"eval-segmentation: {len(scenes)} scenes, {report.n_points:,} labelled points, {len(classes)} classes, "
          f"step {state.step}, student voted over {cfg.turns} turn(s)"
          f"{', every method voted within superpoints' if cfg.superpoints else ''}, {time.perf_counter() - t0:.0f} s")
    for m in report.miou:
        print(f"  {m:9s} mIoU {100 * report.miou[m]:5.1f} %  accuracy {100 * report.accuracy[m]:5.1f} %")
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps({**report.to_json(), "checkpoint": str(cfg.checkpoint),
                                                     "step": state.step, "ensemble_rule": cfg.ensemble,
                                                     "fused_weight": cfg.fused_weight, "turns": cfg.turns,
                                                     "superpoints": bool(cfg.superpoints)},
                                                    indent=1))
    return 0


def cmd_segment(cfg: DictConfig) -> int:
    from scene3d.commands.instances import class_list
    from scene3d.distill import point_features
    from scene3d.distill.segment import segment_points, write_segmentation
    from scene3d.io import load_scene
    from scene3d.train import resolve_device

    classes = class_list(cfg.classes)
    query = None if cfg.query is None else str(cfg.query)
    if query is not None and not query.strip():
        raise ConfigError("query is empty: give a word or phrase, e.g. query=chair (or leave it out)")
    scene = load_scene(need(cfg, "scene"), frames=False, mesh=False)
    model, state = _students(cfg, resolve_device(cfg.device))
    source = "classes="
    if classes is None:
        classes, source = state.extra.get("classes"), "the run's training classes"
    if not classes:
        classes, source = scene.label_set(), "the scene's labels"
    if not classes:
        raise ConfigError(f"{cfg.checkpoint} records no training classes and {scene.scene_id} has no labels: "
                          "pass classes=[name,...]")
    teacher = _run_teacher(cfg, state)
    t0 = time.perf_counter()
    feats = point_features(model, scene, _turns(cfg))  # (N, D)
    superpoints_of = _superpoints(cfg)
    if superpoints_of is not None:
        import torch

        from scene3d.distill import superpoint_mean

        feats = superpoint_mean(feats, torch.from_numpy(superpoints_of(scene)))
    text = teacher.embed_text(classes)  # (K, D)
    query_text = teacher.embed_text([query])[0] if query is not None else None
    seg = segment_points(feats, classes, text, query, query_text, cfg.temperature)
    match = seg.ground_truth_match(scene)
    counts = {classes[k]: int(n) for k, n in enumerate(seg.labels.bincount(minlength=len(classes))) if n > 0}
    summary = {"scene_id": scene.scene_id, "num_points": scene.num_points, "checkpoint": str(cfg.checkpoint),
               "step": state.step, "turns": cfg.turns, "superpoints": cfg.superpoints, "classes_from": source,
               "temperature": cfg.temperature, "points_per_class": counts,
               "ground_truth_match": None if match is None else {"fraction": match[0], "labelled_points": match[1]},
               "seconds": time.perf_counter() - t0}
    out = Path(need(cfg, "out"))
    write_segmentation(seg, out, summary)
    top = ", ".join(f"{c} {n:,}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])[:5])
    print(f"segment: {scene.scene_id}: {scene.num_points:,} points, {len(classes)} classes ({source}); "
          f"most points: {top}")
    if match is not None:
        print(f"segment: the label matches the ground truth on {100 * match[0]:.1f} % of the {match[1]:,} labelled points")
    if seg.relevancy is not None:
        print(f"segment: relevancy of {query!r}: {int((seg.relevancy > 0.5).sum()):,} points above 0.5")
    print(f"segment: -> {out / 'segment.npz'}, {out / 'segment.json'}")
    return 0
