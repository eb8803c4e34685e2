"""Boxes from point sets, and box overlap.

All coordinates are metres in the world frame (z up).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from scene3d.structures import Box


def aabb(points: np.ndarray) -> Box:
    """Axis-aligned bounding box of (N, 3) points (N >= 1), yaw 0."""
    if len(points) == 0:
        raise ValueError("aabb of an empty point set")
    pts = points.astype(np.float64)
    return Box.from_min_max(pts.min(axis=0), pts.max(axis=0))


def min_area_box(points: np.ndarray) -> Box:
    """Tightest box oriented about z: the minimum-area rectangle of the xy hull.

    Args:
        points: (N, 3) metres, N >= 1.

    Returns:
        A Box whose yaw lies in [0, pi/2) (a rectangle's orientation is only
        defined modulo pi/2) and whose z extent is the points' z range. Falls
        back to :func:`aabb` for degenerate (collinear or tiny) sets.
    """
    pts = points.astype(np.float64)
    xy = pts[:, :2]
    try:
        hull = xy[ConvexHull(xy).vertices]
    except (QhullError, ValueError):
        return aabb(points)
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), math.pi / 2))
    best = None
    for a in angles:  # hull edges: a few dozen at most
        c, s = math.cos(a), math.sin(a)
        local = xy @ np.array([[c, -s], [s, c]])  # rotate points by -a
        lo, hi = local.min(axis=0), local.max(axis=0)
        area = float(np.prod(hi - lo))
        if best is None or area < best[0]:
            best = (area, a, lo, hi)
    _, a, lo, hi = best
    c, s = math.cos(a), math.sin(a)
    mid = (lo + hi) / 2.0
    center_xy = np.array([mid[0] * c - mid[1] * s, mid[0] * s + mid[1] * c])
    z_lo, z_hi = pts[:, 2].min(), pts[:, 2].max()
    return Box(
        center=np.array([center_xy[0], center_xy[1], (z_lo + z_hi) / 2.0]),
        size=np.array([hi[0] - lo[0], hi[1] - lo[1], z_hi - z_lo]),
        yaw=float(a),
    )


def aabb_iou(a: Box, b: Box) -> float:
    """3D IoU of the axis-aligned extents of two boxes (their yaw is ignored).

    This is the ScanRefer Acc@IoU protocol's overlap (GT boxes are axis-aligned).
    """
    lo = np.maximum(a.center - a.size / 2, b.center - b.size / 2)
    hi = np.minimum(a.center + a.size / 2, b.center + b.size / 2)
    inter = float(np.prod(np.clip(hi - lo, 0.0, None)))
    union = float(np.prod(a.size) + np.prod(b.size)) - inter
    return inter / union if union > 0 else 0.0
