"""Class-agnostic segments of the points that are not room planes.

1. Over-segmentation: Felzenszwalb-Huttenlocher graph segmentation on the kNN graph, with the
   edge weight of ScanNet's mesh segmentator (``1 - n_i . n_j``, squared across a convex edge)
   plus a colour term.
2. Merging: agglomerative over the segments' adjacency graph, most alike first: touching segments of
   similar mean colour and, when point features are given (the distilled backbone), similar mean
   feature join while the joined box stays within a size bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene3d.instances.neighbours import Neighbours


@dataclass(frozen=True)
class SegmentConfig:
    """Settings of :func:`over_segment` and :func:`merge_segments`."""

    threshold: float = 0.5           # Felzenszwalb k: larger gives larger segments
    color_weight: float = 0.5        # weight of the colour distance (RGB in [0, 1], / sqrt 3) in an edge's weight
    min_segment: int = 20            # segments with fewer points are joined to their strongest neighbour
    merge_color: float = 0.06        # touching segments merge when their mean colours differ less (RGB / sqrt 3)
    merge_feature: float = 0.5       # ... and, with features, their mean features' cosine is at least this
    min_contacts: int = 3            # kNN edges between two segments for them to touch
    min_points: int = 50             # proposals with fewer points are dropped (their points get id -1)
    max_extent: float = 2.5          # merging stops where the joined box would be longer than this, metres

    def __post_init__(self) -> None:
        if not (self.threshold > 0 and self.color_weight >= 0 and self.min_segment >= 1 and self.min_points >= 1
                and self.min_contacts >= 1 and 0 <= self.merge_color and self.max_extent > 0 and -1 <= self.merge_feature <= 1):
            raise ValueError(f"SegmentConfig: bad settings {self}")


def edge_weights(graph: Neighbours, points: np.ndarray, normals: np.ndarray, colors: np.ndarray,
                 color_weight: float) -> np.ndarray:
    """``(E,)`` dissimilarity of each edge: ``1 - |n_i . n_j|`` (squared where the surface is convex
    there, as in ScanNet's segmentator) plus ``color_weight`` times the RGB distance (``colors`` uint8,
    distance scaled to [0, 1])."""
    i, j = graph.i, graph.j
    dot = np.clip(np.abs(np.einsum("ei,ei->e", normals[i], normals[j])), 0.0, 1.0)
    w = 1.0 - dot
    convex = np.einsum("ei,ei->e", points[j] - points[i], normals[j] - normals[i]) > 0
    w = np.where(convex, w * w, w)
    rgb = colors.astype(np.float64) / 255.0
    return w + color_weight * np.linalg.norm(rgb[i] - rgb[j], axis=1) / np.sqrt(3.0)


def over_segment(num_points: int, graph: Neighbours, weights: np.ndarray, cfg: SegmentConfig) -> np.ndarray:
    """``(N,)`` int64 segment index per point (0..S-1) by Felzenszwalb-Huttenlocher on the graph's
    edges with ``weights`` (lowest first), then segments under ``cfg.min_segment`` points joined
    along their lowest edges."""
    order = np.argsort(weights, kind="stable")
    ei, ej, ew = graph.i[order].tolist(), graph.j[order].tolist(), weights[order].tolist()
    # the union-find runs on Python lists (one pass over the sorted edges)
    parent_l, size_l, internal_l = list(range(num_points)), [1] * num_points, [0.0] * num_points
    k = cfg.threshold
    for a, b, w in zip(ei, ej, ew):
        ra, rb = _find_l(parent_l, a), _find_l(parent_l, b)
        if ra == rb:
            continue
        if w <= min(internal_l[ra] + k / size_l[ra], internal_l[rb] + k / size_l[rb]):
            if size_l[ra] < size_l[rb]:
                ra, rb = rb, ra
            parent_l[rb] = ra
            size_l[ra] += size_l[rb]
            internal_l[ra] = w
    for a, b in zip(ei, ej):
        ra, rb = _find_l(parent_l, a), _find_l(parent_l, b)
        if ra != rb and (size_l[ra] < cfg.min_segment or size_l[rb] < cfg.min_segment):
            if size_l[ra] < size_l[rb]:
                ra, rb = rb, ra
            parent_l[rb] = ra
            size_l[ra] += size_l[rb]
    roots = np.array([_find_l(parent_l, x) for x in range(num_points)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1]


def _find_l(parent: list[int], x: int) -> int:
    """The root of ``x`` in the union-find ``parent``, with path compression."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def merge_segments(segments: np.ndarray, graph: Neighbours, points: np.ndarray, colors: np.ndarray,
                   features: np.ndarray | None, cfg: SegmentConfig) -> np.ndarray:
    """``(N,)`` int64 proposal index per point (-1: dropped, under ``cfg.min_points``), numbered by size
    (largest first).

    Agglomerative merging over the segments' adjacency graph, most alike pair first: two touching
    segments (``cfg.min_contacts`` kNN edges) join when their mean colours (uint8 ``colors``) are closer
    than ``cfg.merge_color``, when ``(N, D)`` ``features`` are given their mean features agree (cosine
    ``>= cfg.merge_feature``), and the joined box of their ``(N, 3)`` ``points`` (metres) stays within
    ``cfg.max_extent`` (so that a chain of alike segments cannot grow across a room)."""
    num = int(segments.max()) + 1 if len(segments) else 0
    count = np.bincount(segments, minlength=num).astype(np.float64)
    mean_rgb = np.stack([np.bincount(segments, colors[:, c] / 255.0, minlength=num) for c in range(3)], 1)
    mean_rgb /= np.maximum(count, 1)[:, None]
    sa, sb = segments[graph.i], segments[graph.j]
    cross = sa != sb
    lo, hi = np.minimum(sa[cross], sb[cross]), np.maximum(sa[cross], sb[cross])
    pairs, contacts = np.unique(lo * num + hi, return_counts=True)
    a, b = pairs // num, pairs % num
    distance = np.linalg.norm(mean_rgb[a] - mean_rgb[b], axis=1) / np.sqrt(3.0)
    ok = (contacts >= cfg.min_contacts) & (distance < cfg.merge_color)
    if features is not None:
        sums = np.zeros((num, features.shape[1]))
        np.add.at(sums, segments, features.astype(np.float64))
        unit = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        ok &= np.einsum("ed,ed->e", unit[a], unit[b]) >= cfg.merge_feature
    box_lo = np.full((num, 3), np.inf)
    box_hi = np.full((num, 3), -np.inf)
    np.minimum.at(box_lo, segments, points)
    np.maximum.at(box_hi, segments, points)
    parent = list(range(num))
    for e in np.flatnonzero(ok)[np.argsort(distance[ok], kind="stable")].tolist():
        ra, rb = _find_l(parent, int(a[e])), _find_l(parent, int(b[e]))
        if ra == rb:
            continue
        joined_lo, joined_hi = np.minimum(box_lo[ra], box_lo[rb]), np.maximum(box_hi[ra], box_hi[rb])
        if (joined_hi - joined_lo).max() > cfg.max_extent:
            continue
        parent[rb] = ra
        box_lo[ra], box_hi[ra] = joined_lo, joined_hi
    root = np.array([_find_l(parent, x) for x in range(num)], dtype=np.int64)
    size = np.bincount(root, weights=count, minlength=num)
    label = np.full(num, -1, dtype=np.int64)
    kept = [r for r in np.argsort(-size, kind="stable") if size[r] >= cfg.min_points]
    label[kept] = np.arange(len(kept))
    return label[root][segments]
