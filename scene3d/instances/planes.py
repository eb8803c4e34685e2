"""The room's large planes: floor, ceiling and walls of a z-up scan (metres).

A plane is found as a peak of a histogram of offsets (a Hough vote over the points whose normal
agrees with the plane's direction), refined by a least-squares fit (SVD) to its inliers, and
kept when it is large enough. Floor: the lowest horizontal peak; ceiling: the highest, at least
``min_room_height`` above the floor; walls: vertical peaks along the dominant horizontal normal
directions, each at least ``min_wall_height`` tall and ``min_wall_length`` long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlaneConfig:
    """Settings of :func:`find_planes` (lengths in metres, angles in degrees)."""

    tolerance: float = 0.03          # inlier distance to the plane
    max_angle: float = 25.0          # inlier normal deviation from the plane's normal
    min_fraction: float = 0.02       # a plane holds at least this fraction of the points
    min_room_height: float = 1.8     # ceiling above floor
    min_wall_height: float = 1.2     # vertical extent of a wall's inliers
    min_wall_length: float = 1.0     # horizontal extent of a wall's inliers
    max_walls: int = 12              # walls looked for

    def __post_init__(self) -> None:
        if not (self.tolerance > 0 and 0 < self.max_angle < 90 and 0 < self.min_fraction < 1 and self.max_walls >= 0):
            raise ValueError(f"PlaneConfig: tolerance > 0, 0 < max_angle < 90, 0 < min_fraction < 1, "
                             f"max_walls >= 0 needed, got {self}")


@dataclass(frozen=True)
class Plane:
    """One found plane.

    Attributes:
        label: ``"floor"``, ``"ceiling"`` or ``"wall"``.
        indices: ``(M,)`` int64 indices of its inlier points.
        normal: ``(3,)`` unit normal (least-squares fit).
        offset: ``normal . p = offset`` on the plane, metres.
        score: fraction of the points within ``tolerance`` of the fitted plane whose normal agrees with
            it (how planar the found surface is), in [0, 1].
    """

    label: str
    indices: np.ndarray
    normal: np.ndarray
    offset: float
    score: float


def _fit(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane of ``(M, 3)`` points: (unit normal, offset)."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[-1]
    return normal, float(normal @ centre)


def _peaks(values: np.ndarray, bin_width: float, min_count: int) -> list[float]:
    """Centres of histogram windows (3 bins wide) of ``values`` holding at least ``min_count``, strongest
    first, each at least 3 bins from the ones before."""
    if len(values) < min_count or len(values) == 0:
        return []
    lo = values.min() - bin_width
    counts = np.bincount(((values - lo) / bin_width).astype(np.int64))
    window = np.convolve(counts, np.ones(3, dtype=np.int64), mode="same")
    out: list[float] = []
    for b in np.argsort(-window, kind="stable"):
        if window[b] < min_count:
            break
        if all(abs(b - (o - lo) / bin_width + 0.5) > 3 for o in out):
            out.append(lo + (b + 0.5) * bin_width)
    return out


def _plane(label: str, points: np.ndarray, normals: np.ndarray, free: np.ndarray, seed: np.ndarray,
           cfg: PlaneConfig) -> Plane | None:
    """Refit the plane of the ``seed`` indices and gather its free inliers; None when too few."""
    cos = np.cos(np.radians(cfg.max_angle))
    normal, offset = _fit(points[seed].astype(np.float64))
    near = free & (np.abs(points @ normal - offset) < cfg.tolerance)
    agree = near & (np.abs(normals @ normal) >= cos)
    if agree.sum() < 3:
        return None
    normal, offset = _fit(points[agree].astype(np.float64))
    near = free & (np.abs(points @ normal - offset) < cfg.tolerance)
    inliers = near & (np.abs(normals @ normal) >= cos)
    return Plane(label, np.flatnonzero(inliers), normal, offset, float(inliers.sum() / max(near.sum(), 1)))


def find_planes(points: np.ndarray, normals: np.ndarray, cfg: PlaneConfig | None = None) -> list[Plane]:
    """Floor, ceiling and walls of a z-up scene.

    Args:
        points: ``(N, 3)`` metres, z up.
        normals: ``(N, 3)`` unit normals (either sign).
        cfg: thresholds; default :class:`PlaneConfig`.

    Returns:
        The planes found (floor first, then ceiling, then walls), their inliers disjoint.
    """
    cfg = cfg or PlaneConfig()
    pts, nrm = points.astype(np.float64), normals.astype(np.float64)
    n = len(pts)
    min_count = max(int(cfg.min_fraction * n), 10)
    cos = np.cos(np.radians(cfg.max_angle))
    free = np.ones(n, dtype=bool)
    planes: list[Plane] = []
    horizontal = np.abs(nrm[:, 2]) >= cos
    heights = sorted(_peaks(pts[horizontal, 2], cfg.tolerance, min_count))
    floor = ceiling = None
    if heights:
        floor = heights[0]
        tops = [h for h in heights if h >= floor + cfg.min_room_height]
        ceiling = tops[-1] if tops else None
    for label, height in (("floor", floor), ("ceiling", ceiling)):
        if height is None:
            continue
        seed = np.flatnonzero(horizontal & free & (np.abs(pts[:, 2] - height) < 2 * cfg.tolerance))
        plane = _plane(label, pts, nrm, free, seed, cfg) if len(seed) >= 3 else None
        if plane is not None and len(plane.indices) >= min_count:
            planes.append(plane)
            free[plane.indices] = False
    vertical = np.abs(nrm[:, 2]) <= np.sin(np.radians(cfg.max_angle))
    for _ in range(cfg.max_walls):
        cand = np.flatnonzero(free & vertical)
        if len(cand) < min_count:
            break
        angle = np.mod(np.degrees(np.arctan2(nrm[cand, 1], nrm[cand, 0])), 180.0)  # direction, sign-free
        hist = np.bincount((angle / 2.0).astype(np.int64) % 90, minlength=90)
        circ = hist + np.roll(hist, 1) + np.roll(hist, -1)
        theta = np.radians((np.argmax(circ) + 0.5) * 2.0)
        direction = np.array([np.cos(theta), np.sin(theta), 0.0])
        along = cand[np.abs(nrm[cand] @ direction) >= cos]
        found = None
        for offset in _peaks(pts[along] @ direction, cfg.tolerance, min_count):
            seed = along[np.abs(pts[along] @ direction - offset) < 2 * cfg.tolerance]  # the peak's 3-bin window
            plane = _plane("wall", pts, nrm, free, seed, cfg)
            if plane is None or len(plane.indices) < min_count:
                continue
            inl = pts[plane.indices]
            side = np.cross(plane.normal, [0.0, 0.0, 1.0])
            length = np.ptp(inl @ side) if np.linalg.norm(side) > 1e-6 else 0.0
            if np.ptp(inl[:, 2]) >= cfg.min_wall_height and length >= cfg.min_wall_length:
                found = plane
                break
        if found is None:
            # no wall along the strongest direction: drop its candidates and look at the next one
            vertical[along] = False
            continue
        planes.append(found)
        free[found.indices] = False
    return planes
