"""A tiny labelled room built from boxes, a fixture of the tests (the procedural generator of
``scene3d.synth`` builds on the same idea)."""

from __future__ import annotations

import numpy as np

from scene3d.structures import Box, Scene, SceneMeta, SceneObject

# (label, center xyz, size xyz, colour) of a small office; metres, z up, floor at z = 0.
_LAYOUT = [
    ("floor", (2.0, 1.5, -0.01), (4.0, 3.0, 0.02), (150, 120, 90)),
    ("table", (2.0, 1.5, 0.375), (1.2, 0.8, 0.75), (120, 80, 40)),
    ("chair", (2.0, 0.8, 0.45), (0.45, 0.45, 0.9), (200, 30, 30)),
    ("chair", (2.0, 2.2, 0.45), (0.45, 0.45, 0.9), (30, 30, 200)),
    ("lamp", (2.3, 1.6, 0.9), (0.15, 0.15, 0.3), (240, 230, 60)),
    ("cabinet", (0.3, 2.6, 0.5), (0.5, 0.7, 1.0), (230, 230, 230)),
]


def _sample_box_surface(box: Box, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) points uniform by area on an axis-aligned box's faces, with (n, 3) normals."""
    sx, sy, sz = box.size
    areas = np.array([sy * sz, sy * sz, sx * sz, sx * sz, sx * sy, sx * sy])
    face = rng.choice(6, size=n, p=areas / areas.sum())
    uvw = rng.uniform(-0.5, 0.5, size=(n, 3))
    axis = face // 2
    sign = np.where(face % 2 == 0, -0.5, 0.5)
    uvw[np.arange(n), axis] = sign
    normals = np.zeros((n, 3))
    normals[np.arange(n), axis] = np.sign(sign)
    return uvw * box.size + box.center, normals


def make_tiny_scene(scene_id: str = "tiny_office", points_per_m2: float = 400.0, seed: int = 0) -> Scene:
    """Build a 4 m x 3 m office with a table, two chairs, a lamp on the table and a cabinet.

    Args:
        scene_id: the scene's id.
        points_per_m2: surface sampling density.
        seed: RNG seed (the scene is deterministic given the arguments).

    Returns:
        A Scene with coloured, labelled points (float32 metres), normals, and
        one axis-aligned SceneObject per item (object ids 0..5).
    """
    rng = np.random.default_rng(seed)
    pts, nrm, col, inst, objects = [], [], [], [], []
    for obj_id, (label, center, size, rgb) in enumerate(_LAYOUT):
        box = Box(center=np.array(center, dtype=np.float64), size=np.array(size, dtype=np.float64))
        sx, sy, sz = box.size
        area = 2 * (sx * sy + sx * sz + sy * sz)
        n = max(50, int(area * points_per_m2))
        p, normal = _sample_box_surface(box, n, rng)
        noise = rng.integers(-12, 13, size=(n, 3))
        pts.append(p)
        nrm.append(normal)
        col.append(np.clip(np.array(rgb) + noise, 0, 255))
        inst.append(np.full(n, obj_id))
        objects.append(SceneObject(object_id=obj_id, label=label, raw_label=label, box=box,
                                   color_rgb=np.array(rgb, dtype=np.uint8)))
    return Scene(
        scene_id=scene_id,
        points=np.concatenate(pts).astype(np.float32),
        colors=np.concatenate(col).astype(np.uint8),
        instance_ids=np.concatenate(inst).astype(np.int32),
        normals=np.concatenate(nrm).astype(np.float32),
        objects=objects,
        meta=SceneMeta(source="synthetic", room_type="office"),
    )
