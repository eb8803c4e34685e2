"""Command of the generated language: ``language``."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from scene3d.config import need


def cmd_language(cfg: DictConfig) -> int:
    from scene3d.language import LanguageConfig, format_stats
    from scene3d.language.batch import language_dataset

    lcfg = LanguageConfig(per_target=cfg.per_target, per_scene=cfg.per_scene, chained=cfg.chained,
                          paraphrase=cfg.paraphrase, object_captions=cfg.object_captions,
                          scene_caption=cfg.scene_caption)
    t0 = time.perf_counter()
    stats = language_dataset(need(cfg, "data"), seed=cfg.seed, workers=cfg.workers, config=lcfg,
                             viewpoint=cfg.viewpoint)
    print(f"language: {Path(cfg.data) / 'language.jsonl'} in {time.perf_counter() - t0:.1f} s")
    print(format_stats(stats))
    return 0
