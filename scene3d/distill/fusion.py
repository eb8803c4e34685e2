"""The no-learning baseline: fuse the 2D teacher's features onto the points by projection (OpenScene 2D fusion)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from scene3d.distill.views import Views, scene_views, visible_points
from scene3d.structures import Scene
from scene3d.teachers import Teacher


class FusedFeatures(NamedTuple):
    """Per-point teacher features averaged over the views that see the point.

    Attributes:
        features: ``(N, D)`` L2-normalised mean of the teacher features at the point's pixels; zero
            for points no view sees.
        views_seen: ``(N,)`` int64, in how many views each point is visible.
    """

    features: torch.Tensor
    views_seen: torch.Tensor


def fuse_views(views: Views, points: torch.Tensor, tolerance: float) -> FusedFeatures:
    """Average the teacher feature at every visible point's pixel over the views (depth-tested)."""
    m = visible_points(views, points, tolerance)
    target = views.features[m.frame_indices, m.pixels[:, 1], m.pixels[:, 0]]  # (K, D)
    n, d = points.shape[0], views.features.shape[-1]
    acc = torch.zeros(n, d).index_add_(0, m.point_indices, target)
    seen = torch.bincount(m.point_indices, minlength=n)
    return FusedFeatures(features=F.normalize(acc, dim=-1), views_seen=seen)


def fuse_teacher(scene: Scene, teacher: Teacher, tolerance: float = 0.05) -> FusedFeatures:
    """Run the teacher on all frames of ``scene`` and fuse onto its points (``tolerance`` metres)."""
    points = torch.from_numpy(scene.points).float()
    return fuse_views(scene_views(scene, teacher), points, tolerance)
