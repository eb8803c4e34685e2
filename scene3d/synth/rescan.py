"""Another scan of the same place: a synthetic scene moved, cropped and re-measured.

For the scene repository's duplicate detection: the copy keeps the room but turns it about
z, shifts it, drops the objects outside a random half-plane crop and jitters every box.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from scene3d.structures import Box, Scene


def rescan(scene: Scene, scene_id: str, rng: np.random.Generator, keep: float = 0.7,
           noise: float = 0.03, max_shift: float = 5.0) -> Scene:
    """An object-only copy of ``scene`` as another scan would see it.

    Args:
        scene_id: the copy's id.
        rng: draws the turn (uniform), shift (up to ``max_shift`` metres in x and y), crop
            and noise.
        keep: about this share of the objects survives the crop (a half-plane through the
            room at a random angle).
        noise: standard deviation of the box centres' jitter, metres.
    """
    yaw, shift = rng.uniform(0, 2 * math.pi), np.append(rng.uniform(-max_shift, max_shift, 2), 0.0)
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    centers = np.array([o.box.center for o in scene.objects]).reshape(-1, 3)
    direction = rng.normal(size=2)
    along = centers[:, :2] @ (direction / np.linalg.norm(direction))
    cut = np.quantile(along, 1.0 - keep) if len(along) else 0.0
    objects = []
    for o, a in zip(scene.objects, along):
        if a < cut:
            continue
        center = rot @ o.box.center + shift + rng.normal(scale=noise, size=3)
        turned = math.atan2(math.sin(o.box.yaw + yaw), math.cos(o.box.yaw + yaw))
        objects.append(replace(o, box=Box(center, o.box.size, turned), obb=None))
    return Scene(scene_id, objects=objects, meta=replace(scene.meta, source="rescan"))
