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
PANEL_SHIFT = 0.2       # the view's target moves right by this share of the furniture's radius, so the
                        # furniture sits left of the centre, clear of viser's control panel on the right
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
    :data:`ELEVATION_DEG` below the horizon, at 0.85 times the distance at which the sphere
    around the furniture's box fills the :data:`FOV_DEG` view (the box is flatter than its
    sphere, so the furniture still fits), looking :data:`PANEL_SHIFT` of the way right of
    the furniture's centre."""
    lo, hi = _bounds(scene, furniture_only=True)
    center = (lo + hi) / 2.0
    radius = max(float(np.linalg.norm(hi - lo)) / 2.0, 0.5)
    distance = 0.85 * radius / math.sin(math.radians(FOV_DEG) / 2.0)
    el = math.radians(ELEVATION_DEG)
    direction = np.array([0.0, -math.cos(el), math.sin(el)])     # from the target towards the camera
    target = center + [PANEL_SHIFT * radius, 0.0, 0.0]              # +x is the camera's right
    return View(target + distance * direction, target)


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


LABEL_FONT_PX = 13.0     # viser's label text height at font_screen_scale 1, pixels (approximate)
VIEW_HEIGHT_PX = 700.0   # the browser view height the label sizes assume, pixels


def label_extent(text: str, view: View, scale: float = 1.0) -> tuple[float, float]:
    """(width, height) in metres, on the image plane at the view's target, of a label of
    ``text`` drawn at ``font_screen_scale=scale``: labels keep their size on screen, so their
    size in the scene grows with the camera's distance. Approximate (a character is taken as
    0.6 of the font height, plus a margin)."""
    metres_per_px = 2.0 * float(np.linalg.norm(view.look_at - view.position)) * math.tan(
        math.radians(FOV_DEG) / 2.0) / VIEW_HEIGHT_PX
    height = 1.6 * LABEL_FONT_PX * scale * metres_per_px
    return (0.6 * len(text) + 2.0) * LABEL_FONT_PX * scale * metres_per_px, height


def place_labels(anchors: np.ndarray, sizes: np.ndarray, view: View, lift: float = 0.05) -> np.ndarray:
    """Label positions that do not cover each other as seen from ``view``.

    Each label is a rectangle on the camera's image plane (right and up axes, orthographic
    approximation), centred horizontally on its position and standing on it (a viser label
    with ``anchor="bottom-center"``). Labels are placed in order (the first is the most
    important and never moves): each starts at its anchor and is lifted along world +z by
    ``lift`` metres until its rectangle overlaps none placed before it.

    Args:
        anchors: (K, 3) where each label would stand (e.g. the top of its box), metres.
        sizes: (K, 2) width and height of each label on the image plane, metres
            (:func:`label_extent`).
        view: the camera.
        lift: the step of each lift, metres.

    Returns:
        (K, 3) float64 label positions; ``out[k] - anchors[k]`` is ``(0, 0, m * lift)``, m >= 0.

    Raises:
        ValueError: the camera looks straight down (a lift would not move a label on screen).
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 3)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    forward = view.look_at - view.position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right = right / (np.linalg.norm(right) or 1.0)
    up = np.cross(right, forward)
    if up[2] < 1e-3:
        raise ValueError("place_labels needs a camera that is not looking straight down")
    plane = np.stack([right, up], axis=1)                             # (3, 2) world -> image plane
    out = anchors.copy()
    placed: list[tuple[np.ndarray, np.ndarray]] = []                  # (lower-left, upper-right) corners

    def rect(k: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = out[k] @ plane
        w, h = sizes[k]
        return np.array([x - w / 2.0, y]), np.array([x + w / 2.0, y + h])

    def overlaps(a, b) -> bool:
        return bool((a[0] < b[1]).all() and (b[0] < a[1]).all())

    for k in range(len(out)):
        while any(overlaps(rect(k), r) for r in placed):
            out[k, 2] += lift
        placed.append(rect(k))
    return out
