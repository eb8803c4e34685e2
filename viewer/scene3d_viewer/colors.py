"""Point colourings of a Scene for the viewer: pure numpy, no viser needed.

Every function returns (N, 3) uint8 sRGB for the N points of ``scene.points``.
Feature-PCA and open-vocabulary label colourings come from ``scene3d segment``'s output
(:mod:`scene3d_viewer.layers`): ``Scene`` itself carries no per-point features.
"""

from __future__ import annotations

import colorsys

import numpy as np
from matplotlib import colormaps

from scene3d.structures import GroundingResult, Scene
from scene3d_viewer.state import ViewerError

#: The colour modes of the viewer's point cloud, in the order the page lists them.
COLOR_MODES: tuple[str, ...] = ("rgb", "instance", "class", "relevancy")

#: Points with no object (instance id -1) in the instance / class modes.
UNLABELLED_RGB = (140, 140, 140)


def palette(n: int) -> np.ndarray:
    """(n, 3) uint8 distinct colours: golden-ratio hues, alternating two saturation levels.

    Entry ``i`` depends only on ``i``, so an id keeps its colour whatever ``n`` is.
    """
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    rgb = [colorsys.hsv_to_rgb(h, 0.65 if i % 2 else 0.85, 0.95 if i % 2 else 0.8) for i, h in enumerate(hues)]
    return (np.asarray(rgb, dtype=np.float64).reshape(n, 3) * 255).round().astype(np.uint8)


def _lookup(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(N, 3) uint8: ``table[keys]`` with the unlabelled grey where ``keys < 0``."""
    out = np.empty((len(keys), 3), dtype=np.uint8)
    out[:] = UNLABELLED_RGB
    has = keys >= 0
    out[has] = table[keys[has]]
    return out


def instance_colors(scene: Scene) -> np.ndarray:
    """(N, 3) uint8: one colour per object instance (by its position in ``scene.objects``)."""
    ids = np.array([o.object_id for o in scene.objects], dtype=np.int64)
    keys = np.full(scene.num_points, -1, dtype=np.int64)
    has = scene.instance_ids >= 0
    if has.any():
        order = np.argsort(ids)
        keys[has] = order[np.searchsorted(ids[order], scene.instance_ids[has])]
    return _lookup(keys, palette(len(ids)))


#: Greys of the room's structure in the class mode: it is most of the points, and in palette
#: colours it drowns the furniture.
STRUCTURE_RGB: dict[str, tuple[int, int, int]] = {"floor": (175, 170, 165), "wall": (205, 205, 205),
                                                   "ceiling": (230, 230, 230)}


def class_table(labels: list[str]) -> np.ndarray:
    """(K, 3) uint8 colour of each class name: :func:`palette` by position, walls, floor and
    ceiling in the muted greys of :data:`STRUCTURE_RGB`."""
    table = palette(len(labels))
    for k, label in enumerate(labels):
        if label in STRUCTURE_RGB:
            table[k] = STRUCTURE_RGB[label]
    return table


def class_colors(scene: Scene) -> np.ndarray:
    """(N, 3) uint8: one colour per class of :meth:`Scene.label_set` (sorted labels, :func:`class_table`)."""
    return _lookup(scene.point_labels().astype(np.int64), class_table(scene.label_set()))


def relevancy(scene: Scene, result: GroundingResult | None) -> np.ndarray:
    """(N,) float64 in [0, 1]: each point's object score in ``result`` over the best score.

    Points of objects outside ``result.ranked`` (it holds the top-k only) and points
    with no object get 0; so does every point when ``result`` is None or empty.

    Raises:
        ViewerError: ``result`` is for another scene.
    """
    out = np.zeros(scene.num_points, dtype=np.float64)
    if result is None or not result.ranked:
        return out
    if result.scene_id != scene.scene_id:
        raise ViewerError(f"the grounding result is for scene {result.scene_id!r}, not {scene.scene_id!r}")
    best = max(r.score for r in result.ranked)
    if best <= 0:
        return out
    for r in result.ranked:
        out[scene.instance_ids == r.object_id] = r.score / best
    return out


def heat_colors(values: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 of (N,) values in [0, 1] through matplotlib's ``inferno`` map (dark = 0)."""
    rgba = colormaps["inferno"](np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0))
    return (rgba[:, :3] * 255).round().astype(np.uint8)


def point_colors(scene: Scene, mode: str, result: GroundingResult | None = None) -> np.ndarray:
    """(N, 3) uint8 colours of ``scene``'s points in colour ``mode`` (one of :data:`COLOR_MODES`).

    ``"relevancy"`` needs ``result`` (a grounding result of this scene); without one every
    point is drawn at relevancy 0.

    Raises:
        ViewerError: an unknown mode, or a result of another scene.
    """
    if mode == "rgb":
        return scene.colors
    if mode == "instance":
        return instance_colors(scene)
    if mode == "class":
        return class_colors(scene)
    if mode == "relevancy":
        return heat_colors(relevancy(scene, result))
    raise ViewerError(f"unknown colour mode {mode!r}; choose one of {', '.join(COLOR_MODES)}")
