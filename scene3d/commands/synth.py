"""Command of the synthetic scene generator: ``generate``."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from scene3d.config import need


def _synth_config(cfg: DictConfig):
    from scene3d.synth import SynthConfig

    return SynthConfig(num_points=cfg.num_points, min_object_points=cfg.min_object_points, noise=cfg.noise,
                       holes=cfg.holes, num_frames=cfg.num_frames, width=cfg.width, height=cfg.height,
                       hfov_deg=cfg.hfov_deg)


def cmd_generate(cfg: DictConfig) -> int:
    from scene3d.synth import format_table, generate_dataset

    t0 = time.perf_counter()
    summary = generate_dataset(need(cfg, "out"), cfg.num_scenes, seed=cfg.seed, workers=cfg.workers,
                               config=_synth_config(cfg), split_fractions=tuple(cfg.split), name=cfg.name)
    dt = time.perf_counter() - t0
    print(f"generated {len(summary.scene_ids)} scenes in {cfg.out} in {dt:.1f} s "
          f"({len(summary.scene_ids) / dt:.2f} scenes/s); chart: {Path(cfg.out) / 'stats.png'}")
    print(format_table(summary))
    return 0
