"""The ``scene3d`` command: ``scene3d <command> key=value ...``.

Each command has a Hydra config ``configs/<command with _>.yaml``; the
``key=value`` arguments are Hydra overrides of it. Run ``scene3d --help``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from scene3d.errors import ConfigError, Scene3DError

REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The folder of the commands' YAML configs: ``$SCENE3D_CONFIG_DIR`` or ``<repo>/configs``."""
    path = Path(os.environ.get("SCENE3D_CONFIG_DIR", REPO_ROOT / "configs"))
    if not path.is_dir():
        raise ConfigError(
            f"config folder {path} not found: install scene3d from its repository "
            "(pip install -e .) or set SCENE3D_CONFIG_DIR"
        )
    return path


def compose(command: str, overrides: list[str]) -> DictConfig:
    """Compose the command's config with ``key=value`` overrides (Hydra syntax)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return hydra_compose(config_name=command.replace("-", "_"), overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"{command}: {exc}") from None


def _need(cfg: DictConfig, key: str):
    try:
        return cfg[key]
    except MissingMandatoryValue:
        raise ConfigError(f"missing required argument {key}=...") from None


# ------------------------------------------------------------------- commands
def cmd_import_scannet(cfg: DictConfig) -> int:
    from scene3d.io import import_scannet, save_scene

    t0 = time.perf_counter()
    scene, report = import_scannet(
        _need(cfg, "scan"), label_map=cfg.label_map, align=cfg.align, axis_alignment=cfg.axis_alignment,
        box_mode=cfg.box_mode, with_mesh=cfg.with_mesh, with_frames=cfg.with_frames,
        image_scale=cfg.image_scale, max_frames=cfg.max_frames,
    )
    folder = save_scene(scene, _need(cfg, "out"))
    print(f"imported {scene.scene_id} -> {folder} in {time.perf_counter() - t0:.1f} s")
    print(f"  labelled points: {report.num_labelled_points:,}   aggregation: {report.aggregation}")
    print(f"  label map: {report.label_map}   axis alignment: {report.axis_alignment or 'none found'}")
    if report.unmapped_labels:
        print(f"  labels missing from the label map (kept, no NYU40 class): {report.unmapped_labels}")
    if report.conflicting_points:
        print(f"  points claimed by two instances (last kept): {report.conflicting_points}")
    if report.skipped_frames:
        print(f"  frames skipped for invalid poses: {report.skipped_frames}")
    print(summarize(scene))
    return 0


def cmd_import_ply(cfg: DictConfig) -> int:
    from scene3d.io import import_plain, save_scene

    scene = import_plain(_need(cfg, "path"), scene_id=cfg.scene_id, sample_points=cfg.sample_points,
                         seed=cfg.seed, with_mesh=cfg.with_mesh)
    folder = save_scene(scene, _need(cfg, "out"))
    print(f"imported {cfg.path} -> {folder}")
    print(summarize(scene))
    return 0


def cmd_info(cfg: DictConfig) -> int:
    from scene3d.io import load_scene

    print(summarize(load_scene(_need(cfg, "scene")), max_classes=cfg.max_classes))
    return 0


def _find_data_root(cfg: DictConfig) -> Path | None:
    candidates = [cfg.data_root, os.environ.get("SCENE3D_DATA"),
                  REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def _synth_config(cfg: DictConfig):
    from scene3d.synth import SynthConfig

    return SynthConfig(num_points=cfg.num_points, min_object_points=cfg.min_object_points, noise=cfg.noise,
                       holes=cfg.holes, num_frames=cfg.num_frames, width=cfg.width, height=cfg.height,
                       hfov_deg=cfg.hfov_deg)


def cmd_generate(cfg: DictConfig) -> int:
    from scene3d.synth import format_table, generate_dataset

    t0 = time.perf_counter()
    summary = generate_dataset(_need(cfg, "out"), cfg.num_scenes, seed=cfg.seed, workers=cfg.workers,
                               config=_synth_config(cfg), split_fractions=tuple(cfg.split))
    dt = time.perf_counter() - t0
    print(f"generated {len(summary.scene_ids)} scenes in {cfg.out} in {dt:.1f} s "
          f"({len(summary.scene_ids) / dt:.2f} scenes/s); chart: {Path(cfg.out) / 'stats.png'}")
    print(format_table(summary))
    return 0


def cmd_demo(cfg: DictConfig) -> int:
    from scene3d.io import import_scannet, load_scene, save_scene
    from scene3d.synth import format_table, generate_dataset

    out = Path(cfg.out)
    print(f"demo: generating {cfg.num_scenes} synthetic scenes (the embedded default data)")
    summary = generate_dataset(out / "synthetic", cfg.num_scenes, seed=cfg.seed, workers=cfg.workers)
    print(format_table(summary))
    first = load_scene(out / "synthetic" / summary.scene_ids[0])
    print(summarize(first))
    from scene3d.graph.batch import graph_dataset
    from scene3d.io import read_utterances_jsonl
    from scene3d.language import format_stats
    from scene3d.language.batch import language_dataset

    edges = graph_dataset(out / "synthetic", workers=cfg.workers, progress=False)
    print(f"demo: scene graphs written ({np.mean(list(edges.values())):.0f} relations per scene)")
    stats = language_dataset(out / "synthetic", seed=cfg.seed, workers=cfg.workers, progress=False)
    print(format_stats(stats))
    examples = [u for u in read_utterances_jsonl(out / "synthetic" / "language.jsonl")
                if u.scene_id == first.scene_id and u.kind == "referral"][:5]
    for u in examples:
        print(f"  [{u.relation}] {u.text}  -> object {u.target_id} ({u.target_label})")
    data_root = _find_data_root(cfg)
    scan = data_root / cfg.sample_scan if data_root else None
    if scan is not None and scan.is_dir():
        print(f"demo: importing the real sample scan {scan}")
        scene, _ = import_scannet(scan)
        back = load_scene(save_scene(scene, out / "scannet"))
        print(f"demo: round trip of the canonical folder {'exact' if back == scene else 'NOT EXACT'}")
        print(summarize(back))
        if back != scene:
            return 1
    else:
        print("demo: no real sample scan found (set data_root=... or SCENE3D_DATA); synthetic data only")
    return 0


def cmd_graph(cfg: DictConfig) -> int:
    from scene3d.graph.batch import graph_dataset

    t0 = time.perf_counter()
    edges = graph_dataset(_need(cfg, "data"), workers=cfg.workers, viewpoint=cfg.viewpoint)
    dt = time.perf_counter() - t0
    print(f"graph: {len(edges)} scenes in {dt:.1f} s; edges per scene: mean {np.mean(list(edges.values())):.0f}, "
          f"min {min(edges.values())}, max {max(edges.values())}; written as <scene>/graph.json")
    return 0


def cmd_language(cfg: DictConfig) -> int:
    from scene3d.language import LanguageConfig, format_stats
    from scene3d.language.batch import language_dataset

    lcfg = LanguageConfig(per_target=cfg.per_target, per_scene=cfg.per_scene, chained=cfg.chained,
                          paraphrase=cfg.paraphrase, object_captions=cfg.object_captions,
                          scene_caption=cfg.scene_caption)
    t0 = time.perf_counter()
    stats = language_dataset(_need(cfg, "data"), seed=cfg.seed, workers=cfg.workers, config=lcfg,
                             viewpoint=cfg.viewpoint)
    print(f"language: {Path(cfg.data) / 'language.jsonl'} in {time.perf_counter() - t0:.1f} s")
    print(format_stats(stats))
    return 0


def _split_scenes(data: Path, split: str) -> set[str]:
    path = data / "splits" / f"{split}.txt"
    if not path.is_file():
        raise ConfigError(f"{path} not found: generate the data with scene3d generate (it writes splits/)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def cmd_train_grounding(cfg: DictConfig) -> int:
    from scene3d.grounding import GroundingDataset
    from scene3d.grounding.trainer import GroundingTrainConfig, evaluate, train_grounding
    from scene3d.io import list_scene_folders, load_scene, read_utterances_jsonl
    from scene3d.models.grounding import GroundingConfig

    data = Path(_need(cfg, "data"))
    scenes = {s.scene_id: s for s in (load_scene(f, frames=False, mesh=False) for f in list_scene_folders(data))}
    utts = read_utterances_jsonl(data / "language.jsonl")
    held = _split_scenes(data, cfg.val_split)
    train = GroundingDataset.build({k: v for k, v in scenes.items() if k not in held}, utts)
    val = GroundingDataset.build({k: v for k, v in scenes.items() if k in held}, utts)
    print(f"train-grounding: {len(train.examples)} referrals in {len(train.scenes)} scenes; "
          f"validation {len(val.examples)} in {len(val.scenes)}")
    tcfg = GroundingTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                                checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every,
                                model=GroundingConfig(dim=cfg.dim, layers=cfg.layers, heads=cfg.heads))
    model = train_grounding(train, _need(cfg, "out"), tcfg, val=val)
    if val.examples:
        from scene3d.grounding.dataset import TextCache
        from scene3d.models.text_encoder import minilm_text_encoder

        scores, floor = evaluate(model, TextCache(minilm_text_encoder()), val)
        print(format_referit3d(scores, floor))
    return 0


def format_referit3d(scores, floor) -> str:
    """Model vs floor, ReferIt3D protocol, as a small table."""
    rows = [f"{'':<22}{'overall':>9}{'easy':>8}{'hard':>8}{'view-dep':>10}{'view-ind':>10}{'n':>7}"]
    for name, s in (("model", scores), ("floor (class+random)", floor)):
        rows.append(f"{name:<22}{s.overall:>9.1%}{s.easy:>8.1%}{s.hard:>8.1%}{s.view_dependent:>10.1%}"
                    f"{s.view_independent:>10.1%}{s.n:>7}")
    return "\n".join(rows)


def cmd_eval_grounding(cfg: DictConfig) -> int:
    from scene3d.grounding import Grounder, GroundingDataset
    from scene3d.grounding.trainer import evaluate
    from scene3d.io import load_gt_object_scenes, read_referit3d_csv, read_scanrefer_json

    lang = Path(_need(cfg, "language"))
    report = read_scanrefer_json(lang) if lang.suffix == ".json" else read_referit3d_csv(lang)
    utts = report.utterances[: cfg.limit] if cfg.limit else report.utterances
    scenes = load_gt_object_scenes(_need(cfg, "objects"), scene_ids={u.scene_id for u in utts})
    data = GroundingDataset.build(scenes, utts)
    grounder = Grounder.load(_need(cfg, "run"))
    scores, floor = evaluate(grounder.model, grounder.cache, data)
    print(f"eval-grounding: {lang.name}: {len(data.examples)} utterances ({len(data.skipped)} skipped, "
          f"{len(report.problems)} unreadable rows)")
    print(format_referit3d(scores, floor))
    return 0


def cmd_ground(cfg: DictConfig) -> int:
    import json

    from scene3d.grounding import Grounder
    from scene3d.io import load_scene

    scene = load_scene(_need(cfg, "scene"), frames=False, mesh=False)
    result = Grounder.load(_need(cfg, "run")).ground(scene, str(_need(cfg, "query")), top_k=cfg.top_k)
    if cfg.json:
        print(json.dumps(result.to_json(), indent=1))
        return 0
    print(f"query: {result.query!r} in {result.scene_id} ({result.seconds * 1000:.0f} ms)")
    for rank, r in enumerate(result.ranked, 1):
        c = np.round(r.box.center, 2).tolist()
        print(f"  {rank}. object {r.object_id:<4} {r.label:<16} score {r.score:.3f}  centre {c}")
    if not result.ranked:
        print("  (the scene has no objects)")
    return 0


def _dataclass_from(cls, node, name: str):
    from omegaconf import OmegaConf

    try:
        return cls(**OmegaConf.to_container(node, resolve=True))
    except TypeError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def cmd_pretrain(cfg: DictConfig) -> int:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from scene3d.distill import DistillConfig, StudentConfig, pretrain
    from scene3d.io import list_scene_folders, load_scene
    from scene3d.train import LoopConfig

    data = Path(_need(cfg, "data"))
    folders = list_scene_folders(data)
    if cfg.split is not None:
        keep = _split_scenes(data, cfg.split)
        folders = [f for f in folders if f.name in keep]
    if not folders:
        raise ConfigError(f"no scene folders to train on in {data} (split={cfg.split})")
    scenes = [load_scene(f, mesh=False) for f in folders]
    teacher = instantiate(cfg.teacher)
    notes = {"teacher": OmegaConf.to_container(cfg.teacher, resolve=True), "data": str(data), "split": cfg.split}
    t0 = time.perf_counter()
    pretrain(scenes, teacher, _need(cfg, "out"), _dataclass_from(StudentConfig, cfg.student, "student"),
             _dataclass_from(DistillConfig, cfg.distill, "distill"), _dataclass_from(LoopConfig, cfg.loop, "loop"),
             progress=cfg.progress, notes=notes)
    import torch.distributed as dist

    if dist.is_initialized():  # launched by torchrun
        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"pretrain: {len(scenes)} scenes, {cfg.loop.steps} steps in {time.perf_counter() - t0:.0f} s -> "
              f"{cfg.out} (checkpoints/, metrics.csv, metrics.png)")
    return 0


def cmd_features(cfg: DictConfig) -> int:
    import json

    import torch
    from safetensors.torch import save_file

    from scene3d.distill import detect_keypoints, load_student, point_features, scene_descriptor
    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_path, atomic_write_text

    if cfg.dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be float16 or float32, got {cfg.dtype}")
    scene = load_scene(_need(cfg, "scene"), frames=False, mesh=False)
    model, state = load_student(_need(cfg, "checkpoint"))
    t0 = time.perf_counter()
    feats = point_features(model, scene)  # (N, D)
    points = torch.from_numpy(scene.points).float()
    kp = detect_keypoints(points, feats, radius=cfg.nms_radius, max_keypoints=cfg.keypoints)
    desc = scene_descriptor(feats)
    seconds = time.perf_counter() - t0
    out = Path(_need(cfg, "out"))
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


COMMANDS: dict[str, tuple[Callable[[DictConfig], int], str]] = {
    "import-scannet": (cmd_import_scannet, "import one ScanNet scan folder: scan=<folder> out=<root>"),
    "import-ply": (cmd_import_ply, "import an unlabelled PLY/mesh: path=<file> out=<root>"),
    "info": (cmd_info, "print a scene's summary: scene=<scene folder>"),
    "generate": (cmd_generate, "generate synthetic scenes: num_scenes=N out=<root> seed=S workers=W"),
    "graph": (cmd_graph, "scene graphs of every scene: data=<root> (writes <scene>/graph.json)"),
    "language": (cmd_language, "referrals and captions of every scene: data=<root> (writes language.jsonl)"),
    "train-grounding": (cmd_train_grounding, "train the grounding model: data=<root> out=<run> steps=N"),
    "eval-grounding": (cmd_eval_grounding, "real language with GT objects: run=<run> language=<csv/json> objects=<gz>"),
    "ground": (cmd_ground, "ground a sentence: run=<run> scene=<scene folder> query=\"...\""),
    "pretrain": (cmd_pretrain, "2D-3D feature distillation: data=<root> out=<run> (torchrun for DDP)"),
    "features": (cmd_features, "point features, keypoints, scene descriptor: scene=<folder> checkpoint=<run> out=<dir>"),
    "demo": (cmd_demo, "run the main job on the embedded default data: out=<root>"),
}


def summarize(scene, max_classes: int = 40) -> str:
    """A human-readable summary of a Scene: points, bounds, objects by class, frames."""
    from scene3d.structures import Scene

    assert isinstance(scene, Scene)
    lines = [f"scene {scene.scene_id}  (source: {scene.meta.source}, room: {scene.meta.room_type or '-'})"]
    if scene.num_points:
        lo, hi = scene.points.min(axis=0), scene.points.max(axis=0)
        lines.append(f"  points: {scene.num_points:,}  labelled: {int((scene.instance_ids >= 0).sum()):,}  "
                     f"normals: {'yes' if scene.normals is not None else 'no'}")
        lines.append(f"  bounds (m): min {np.round(lo.astype(np.float64), 2).tolist()}  max {np.round(hi.astype(np.float64), 2).tolist()}")
    else:
        lines.append("  points: 0 (object-only scene)")
    by_label = scene.objects_by_label()
    lines.append(f"  objects: {len(scene.objects)} in {len(by_label)} classes")
    shown = list(by_label.items())[:max_classes]
    for i in range(0, len(shown), 6):
        lines.append("    " + ", ".join(f"{k} x{v}" for k, v in shown[i:i + 6]))
    if len(by_label) > max_classes:
        lines.append(f"    ... and {len(by_label) - max_classes} more classes")
    if scene.frames:
        sizes = sorted({f"{f.width}x{f.height}" for f in scene.frames})
        lines.append(f"  frames: {len(scene.frames)} ({', '.join(sizes)}; depth: "
                     f"{sum(f.depth is not None for f in scene.frames)})")
    else:
        lines.append("  frames: 0")
    if scene.mesh is not None:
        lines.append(f"  mesh: {len(scene.mesh.vertices):,} vertices, {len(scene.mesh.faces):,} faces")
    return "\n".join(lines)


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return f"usage: scene3d <command> [key=value ...]\n\ncommands:\n{rows}\n\nconfigs: {REPO_ROOT / 'configs'}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scene3d`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"scene3d: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        cfg = compose(command, overrides)
        return COMMANDS[command][0](cfg)
    except (Scene3DError, ValueError) as exc:  # bad input or arguments: a message, not a traceback
        print(f"scene3d {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
