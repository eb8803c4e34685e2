"""Command of the scene graphs: ``graph``."""

from __future__ import annotations

import time

import numpy as np
from omegaconf import DictConfig

from scene3d.config import need


def cmd_graph(cfg: DictConfig) -> int:
    from scene3d.graph.batch import graph_dataset

    t0 = time.perf_counter()
    edges = graph_dataset(need(cfg, "data"), workers=cfg.workers, viewpoint=cfg.viewpoint)
    dt = time.perf_counter() - t0
    print(f"graph: {len(edges)} scenes in {dt:.1f} s; edges per scene: mean {np.mean(list(edges.values())):.0f}, "
          f"min {min(edges.values())}, max {max(edges.values())}; written as <scene>/graph.json")
    return 0
