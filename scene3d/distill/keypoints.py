"""Outputs of a distilled backbone: sparse keypoints with descriptors and a compact scene descriptor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree


@dataclass
class Keypoints:
    """Salient points of a scene.

    Attributes:
        indices: ``(K,)`` int64 index into the scene's points, best first.
        positions: ``(K, 3)`` float32 metres (world z-up).
        scores: ``(K,)`` saliency in [0, 2] (see :func:`saliency`), descending.
        descriptors: ``(K, D)`` L2-normalised mean feature of each keypoint's neighbourhood.
    """

    indices: torch.Tensor
    positions: torch.Tensor
    scores: torch.Tensor
    descriptors: torch.Tensor


def saliency(points: torch.Tensor, features: torch.Tensor, neighbours: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature distinctiveness of every point, smoothed over its neighbourhood.

    ``s_i = 1 - cos(f_i, m)`` with ``f`` the unit features and ``m`` their scene mean (how unlike
    the scene's average a point looks: points of small, rare objects score high, walls and floor
    low), then averaged over the point's ``neighbours`` nearest points (robust to single noisy points).

    Args:
        points: ``(N, 3)`` metres; features: ``(N, D)``.
        neighbours: k of the k-nearest-neighbour smoothing (including the point itself).

    Returns:
        ``(scores (N,), neighbourhood descriptors (N, D) unit)``.
    """
    unit = F.normalize(features.float(), dim=-1)
    mean = F.normalize(unit.mean(dim=0), dim=0)
    raw = 1.0 - unit @ mean  # (N,)
    k = min(neighbours, points.shape[0])
    _, nn_idx = cKDTree(points.numpy()).query(points.numpy(), k=k)
    nn_idx = torch.from_numpy(np.asarray(nn_idx, dtype=np.int64).reshape(points.shape[0], k))  # (N, k)
    return raw[nn_idx].mean(dim=1), F.normalize(unit[nn_idx].mean(dim=1), dim=-1)


def detect_keypoints(points: torch.Tensor, features: torch.Tensor, radius: float = 0.3,
                     max_keypoints: int = 128, neighbours: int = 16) -> Keypoints:
    """Keypoints by saliency + greedy non-maximum suppression.

    Points are taken in decreasing :func:`saliency`; a point is kept unless a kept one lies within
    ``radius`` metres; at most ``max_keypoints``.

    Args:
        points: ``(N, 3)`` metres; features: ``(N, D)`` per-point features.
        radius: NMS radius, metres.
        max_keypoints: upper bound on K.
        neighbours: k of the saliency smoothing.
    """
    if points.shape[0] == 0:
        raise ValueError("detect_keypoints: the scene has no points")
    scores, desc = saliency(points, features, neighbours)
    order = torch.argsort(scores, descending=True, stable=True).numpy()
    tree = cKDTree(points.numpy())
    suppressed = np.zeros(points.shape[0], dtype=bool)
    kept: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        kept.append(int(i))
        if len(kept) == max_keypoints:
            break
        suppressed[tree.query_ball_point(points[i].numpy(), radius)] = True
    idx = torch.tensor(kept, dtype=torch.int64)
    return Keypoints(indices=idx, positions=points[idx].float(), scores=scores[idx], descriptors=desc[idx])


def scene_descriptor(features: torch.Tensor) -> torch.Tensor:
    """A compact ``(2D,)`` L2-normalised scene descriptor: [unit mean-pool, unit max-pool] of the unit features.

    Invariant to point order and (nearly) to point density; compare scenes by dot product.
    """
    unit = F.normalize(features.float(), dim=-1)
    pooled = torch.cat([F.normalize(unit.mean(dim=0), dim=0), F.normalize(unit.max(dim=0).values, dim=0)])
    return F.normalize(pooled, dim=0)
