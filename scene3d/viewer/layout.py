"""Where the viewer looks and what it hides: pure numpy, no viser needed.

A room seen from outside shows its ceiling and the walls nearest the camera, and they hide
the furniture. The first view therefore looks down on the furniture from above one side of
the room, with the ceiling and the near walls cut away; labels are stacked so that none
covers another as seen from that camera.

World frame: z up, metres.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scene3d.structures import Scene

#: Object classes that make up the room rather than its contents.
STRUCTURE_LABELS: tuple[str, ...] = ("wall", "floor", "ceiling")
#: Classes left out of the furniture the first view frames (the shell and its openings).
SHELL_LABELS: frozenset[str] = frozenset({*STRUCTURE_LABELS, "door", "window"})

ELEVATION_DEG = 60.0   # camera pitch below the horizon in the first view
FOV_DEG = 75.0         # the vertical field of view the framing assumes (viser's default)


class View(NamedTuple):
    """A camera placement.

    Attributes:
        position: (3,) camera centre, metres.
        look_at: (3,) the point it looks at, metres.
    """

    position: np.ndarray
    look_at: np.ndarray


def _bounds(scene: Scene, furniture_only: bool) -> tuple[np.ndarray, np.ndarray]:
    objs = [o for o in scene.objects if not furniture_only or o.label not in SHELL_LABELS]
    if objs:
        corners = np.concatenate([o.box.corners() for o in objs])
        return corners.min(axis=0), corners.max(axis=0)
    if scene.num_points:
        return scene.points.min(axis=0).astype(np.float64), scene.points.max(axis=0).astype(np.float64)
    return np.zeros(3), np.ones(3)


def first_view(scene: Scene) -> View:
    """Look down on the scene's furniture (objects other than walls, floor, ceiling, doors and
    windows; all objects or all points when there is none) from the -y side, pitched
    :data:`ELEVATION_DEG` below the horizon, far enough for the furniture's extent to fit a
    :data:`FOV_DEG` view with a margin."""
    lo, hi = _bounds(scene, furniture_only=True)
    center = (lo + hi) / 2.0
    radius = max(float(np.linalg.norm(hi - lo)) / 2.0, 0.5)
    distance = 1.15 * radius / math.sin(math.radians(FOV_DEG) / 2.0)
    el = math.radians(ELEVATION_DEG)
    direction = np.array([0.0, -math.cos(el), math.sin(el)])     # from the target towards the camera
    return View(center + distance * direction, center)


def cutaway_object_ids(scene: Scene, view: View) -> set[int]:
    """Objects hidden in ``view``: every ceiling, and each wall whose centre lies on the
    camera's side of the view's target (horizontally), beyond a quarter of the furniture's
    horizontal reach - the walls between the camera and the room."""
    toward = (view.position - view.look_at)[:2]
    toward = toward / (np.linalg.norm(toward) or 1.0)
    lo, hi = _bounds(scene, furniture_only=True)
    reach = max(float(np.linalg.norm((hi - lo)[:2])) / 2.0, 0.25)
    hidden = set()
    for o in scene.objects:
        if o.label == "ceiling":
            hidden.add(o.object_id)
        elif o.label == "wall" and float((o.box.center[:2] - view.look_at[:2]) @ toward) > 0.25 * reach:
            hidden.add(o.object_id)
    return hidden


def place_labels(anchors: np.ndarray, view: View, gap: float = 0.3, lift: float = 0.15) -> np.ndarray:
    """Label positions that do not cover each other as seen from ``view``.

    Labels are placed in order (the first is the most important and never moves): each
    starts at its anchor and is lifted along world +z by ``lift`` metres until, projected on
    the camera's image plane (right and up axes, orthographic approximation), it is at least
    ``gap`` metres from every label placed before it.

    Args:
        anchors: (K, 3) where each label would sit (e.g. the top of its box), metres.
        view: the camera.
        gap: the least distance between two labels on the image plane, metres.
        lift: the step of each lift, metres.

    Returns:
        (K, 3) float64 label positions; ``out[k] - anchors[k]`` is ``(0, 0, m * lift)``, m >= 0.
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 3)
    forward = view.look_at - view.position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right = right / (np.linalg.norm(right) or 1.0)
    up = np.cross(right, forward)
    if up @ [0.0, 0.0, 1.0] < 1e-3:   # looking straight down: lifting moves nothing on screen
        raise ValueError("place_labels needs a camera that is not looking straight down")
    plane = np.stack([right, up], axis=1)                             # (3, 2) world -> image plane
    out = anchors.copy()
    placed: list[np.ndarray] = []                                     # (2,) each
    for k in range(len(out)):
        while placed and min(np.linalg.norm(out[k] @ plane - p) for p in placed) < gap:
            out[k, 2] += lift
        placed.append(out[k] @ plane)
    return out
