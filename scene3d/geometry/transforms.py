"""Rigid transforms of points (metres)."""

from __future__ import annotations

import numpy as np


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) homogeneous transform to (N, 3) points; keeps the points' dtype."""
    out = points.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    return out.astype(points.dtype)


def rotate_normals(matrix: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Rotate (N, 3) normals by the rotation part of a rigid (4, 4) transform."""
    return (normals.astype(np.float64) @ matrix[:3, :3].T).astype(normals.dtype)
