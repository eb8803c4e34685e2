"""The point neighbourhood graph the proposals are cut from: k nearest neighbours within a radius
(``scipy.spatial.cKDTree``), and normals estimated from it when a scan has none."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree


class Neighbours(NamedTuple):
    """Undirected edges of a kNN graph (each pair once, ``i < j``).

    Attributes:
        i, j: ``(E,)`` int64 point indices.
        length: ``(E,)`` float64 edge lengths, metres.
        spacing: the median nearest-neighbour distance of the cloud, metres.
    """

    i: np.ndarray
    j: np.ndarray
    length: np.ndarray
    spacing: float


def knn_graph(points: np.ndarray, k: int, radius_factor: float) -> Neighbours:
    """Edges from each of the ``(N, 3)`` points (metres) to its ``k`` nearest neighbours no farther than
    ``radius_factor`` times the cloud's median nearest-neighbour distance.

    Raises:
        ValueError: ``k < 1``, ``radius_factor <= 0`` or fewer than 2 points.
    """
    if k < 1 or not radius_factor > 0:
        raise ValueError(f"knn_graph: k must be >= 1 and radius_factor > 0, got k={k}, radius_factor={radius_factor}")
    if len(points) < 2:
        raise ValueError(f"knn_graph: need at least 2 points, got {len(points)}")
    tree = cKDTree(points)
    k = min(k, len(points) - 1)
    dist, idx = tree.query(points, k=k + 1)  # (N, k + 1), column 0 is the point itself
    spacing = float(np.median(dist[:, 1]))
    radius = radius_factor * max(spacing, 1e-6)
    src = np.repeat(np.arange(len(points)), k)
    dst, length = idx[:, 1:].ravel(), dist[:, 1:].ravel()
    keep = (length <= radius) & (src != dst)
    a, b = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    pairs, first = np.unique(a * len(points) + b, return_index=True)
    return Neighbours(i=pairs // len(points), j=pairs % len(points), length=length[keep][first], spacing=spacing)


def estimate_normals(points: np.ndarray, k: int = 16) -> np.ndarray:
    """``(N, 3)`` float32 unit normals of ``(N, 3)`` points (metres): the least-variance direction of
    each point's ``k`` nearest neighbours (PCA), turned to face +z or, when vertical, the cloud's
    centre (the sign matters only for the convexity test of the over-segmentation)."""
    k = max(3, min(k, len(points)))
    _, idx = cKDTree(points).query(points, k=k)
    nb = points[idx].astype(np.float64)  # (N, k, 3)
    nb -= nb.mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", nb, nb))
    normals = vecs[:, :, 0]  # eigenvector of the smallest eigenvalue
    to_centre = points.mean(axis=0) - points
    ref = np.where(np.abs(normals[:, 2:3]) > 0.5, np.array([0.0, 0.0, 1.0]), to_centre)
    flip = np.einsum("ni,ni->n", normals, ref) < 0
    normals[flip] *= -1
    return normals.astype(np.float32)
