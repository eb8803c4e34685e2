"""Commands of the scene readers: ``import-scannet``, ``import-ply``, ``info``."""

from __future__ import annotations

import time

from omegaconf import DictConfig

from scene3d.config import need
from scene3d.structures.summary import summarize


def cmd_import_scannet(cfg: DictConfig) -> int:
    from scene3d.io import import_scannet, save_scene

    t0 = time.perf_counter()
    scene, report = import_scannet(
        need(cfg, "scan"), label_map=cfg.label_map, align=cfg.align, axis_alignment=cfg.axis_alignment,
        box_mode=cfg.box_mode, with_mesh=cfg.with_mesh, with_frames=cfg.with_frames,
        image_scale=cfg.image_scale, max_frames=cfg.max_frames,
    )
    folder = save_scene(scene, need(cfg, "out"))
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

    scene = import_plain(need(cfg, "path"), scene_id=cfg.scene_id, sample_points=cfg.sample_points,
                         seed=cfg.seed, with_mesh=cfg.with_mesh)
    if cfg.segment:
        from scene3d.commands.instances import segment_scene

        scene = segment_scene(scene, cfg)
    folder = save_scene(scene, need(cfg, "out"))
    print(f"imported {cfg.path} -> {folder}")
    print(summarize(scene))
    return 0


def cmd_info(cfg: DictConfig) -> int:
    from scene3d.io import load_scene

    print(summarize(load_scene(need(cfg, "scene")), max_classes=cfg.max_classes))
    return 0
