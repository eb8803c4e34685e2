"""Command of the instance proposals: ``segment-instances`` (and ``import-ply segment=true``)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from scene3d.config import dataclass_from, need
from scene3d.errors import ConfigError


def class_list(value) -> list[str] | None:
    """The ``classes=`` option as a list of distinct non-empty names, or None.

    Raises:
        ConfigError: not a list, empty, or with empty or repeated names.
    """
    if value is None:
        return None
    if not OmegaConf.is_list(value) and not isinstance(value, list):
        raise ConfigError(f"classes={value}: give a list, e.g. classes=[chair,table]")
    classes = list(value)
    if not classes or not all(isinstance(c, str) and c.strip() for c in classes) or len(set(classes)) != len(classes):
        raise ConfigError(f"classes={classes}: give a list of distinct, non-empty class names, e.g. classes=[chair,table]")
    return classes


def segment_scene(scene, cfg: DictConfig, config=None):
    """``scene`` with instance proposals (``cfg.checkpoint``, ``cfg.classes``, ``cfg.device``, and
    ``cfg.teacher`` when the config has one), and prints what was found."""
    from scene3d.instances import propose
    from scene3d.train import resolve_device

    classes = class_list(cfg.classes)
    if classes is not None and cfg.checkpoint is None:
        raise ConfigError("classes need checkpoint=<pretrain run> (its features name the objects)")
    device = str(resolve_device(cfg.device)) if cfg.checkpoint is not None else "cpu"
    teacher = cfg.get("teacher")
    t0 = time.perf_counter()
    out = propose(scene, checkpoint=cfg.checkpoint, classes=classes, config=config, device=device,
                  teacher=None if teacher is None else OmegaConf.to_container(teacher, resolve=True))
    labels = Counter(o.label for o in out.objects)
    covered = int((out.instance_ids >= 0).sum())
    print(f"segment-instances: {scene.scene_id}: {len(out.objects)} proposals on {scene.num_points:,} points "
          f"in {time.perf_counter() - t0:.1f} s ({covered / max(scene.num_points, 1):.0%} of the points in one); "
          f"labels: {', '.join(f'{k} {n}' for k, n in labels.most_common(8))}")
    return out


def cmd_segment_instances(cfg: DictConfig) -> int:
    from scene3d.instances import PlaneConfig, ProposalConfig, SegmentConfig
    from scene3d.io import load_scene, save_scene

    group = cfg.proposals
    config = dataclass_from(ProposalConfig, group, "proposals", group=False,
                            planes=dataclass_from(PlaneConfig, group.planes, "proposals.planes"),
                            segments=dataclass_from(SegmentConfig, group.segments, "proposals.segments"))
    folder = Path(need(cfg, "scene"))
    scene = load_scene(folder)
    out = segment_scene(scene, cfg, config)
    written = save_scene(out, cfg.out if cfg.out is not None else folder.resolve().parent)
    print(f"segment-instances: predicted objects (score, label_scores) -> {written / 'scene.json'}")
    return 0
