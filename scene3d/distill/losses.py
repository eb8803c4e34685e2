"""Distillation losses: rendered-feature and depth consistency along rays, and the point-projection baseline.

* ray-marched (ConDense-style): rays through sampled map pixels of each view are marched through the
  student's sparse feature field (``scene3d.render``: occupancy-skipping samples, trilinear field,
  emission-absorption compositing); the rendered feature should point like the teacher's feature at
  that pixel (cosine), and the rendered depth should match the frame's depth.
* projection (OpenScene-style 3D distillation): points are projected into the views, kept where a
  depth test says they are visible, and their per-point feature should point like the teacher's
  feature at their pixel (cosine). No density, no rendering.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from scene3d.distill.student import StudentOutput
from scene3d.distill.views import Views, visible_points
from scene3d.render import Cameras, composite, rays_from_pixels, sample_occupied


class RenderLosses(NamedTuple):
    """Per-step losses of the ray-marched branch (scalars) and how many rays carried them."""

    feature: torch.Tensor
    depth: torch.Tensor
    num_rays: int


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos(pred_r, target_r)`` over rows of ``(R, D)`` tensors (0 for R = 0)."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    return (1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8)).mean()


def sample_pixels(valid: torch.Tensor, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` distinct valid pixels drawn uniformly from ``(B, H, W)`` masks.

    Returns:
        ``(frame_indices (R,) int64, pixels (R, 2) int64 (u, v))`` with ``R = min(n, #valid)``.
    """
    flat = valid.reshape(-1).nonzero().flatten()  # (V,)
    pick = flat[torch.randperm(flat.numel(), generator=generator)[:n]]
    hw = valid.shape[1] * valid.shape[2]
    frame, rest = pick // hw, pick % hw
    return frame, torch.stack([rest % valid.shape[2], rest // valid.shape[2]], dim=1)


def ray_distance(cameras: Cameras, frame_indices: torch.Tensor, uv: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Distance along the unit ray through ``uv`` of a point at camera depth ``z``: ``t = z ||K^-1 [u, v, 1]||``.

    Args:
        cameras: B cameras; frame_indices: (R,); uv: (R, 2) continuous pixels; z: (R,) metres.
    """
    K = cameras.K[frame_indices]  # (R, 3, 3)
    homog = torch.cat([uv.to(K.dtype), torch.ones_like(uv[:, :1], dtype=K.dtype)], dim=1)  # (R, 3)
    d = torch.linalg.solve(K, homog.unsqueeze(-1)).squeeze(-1)  # (R, 3)
    return z * torch.linalg.norm(d, dim=-1).to(z.dtype)


def render_losses(out: StudentOutput, views: Views, num_rays: int, num_samples: int,
                  generator: torch.Generator | None = None) -> RenderLosses:
    """Ray-marched feature (cosine) and depth (L1, metres) losses on ``num_rays`` sampled pixels.

    The rendered feature is ``sum_i w_i f_i`` (its norm does not matter to the cosine); the
    rendered depth is the unnormalised ``sum_i w_i t_i``, so the L1 loss to the true ray distance
    also pulls the opacity to 1 on surfaces. Pixels without depth (0) are left out of the depth loss.

    Args:
        out: the student's field on one scene.
        views: the scene's views (teacher maps, cameras, depth).
        num_rays: rays per step (over all views).
        num_samples: candidate bins per ray over the grid's box (occupied ones are kept).
        generator: for the pixel draw and the stratified jitter.
    """
    frame, pix = sample_pixels(views.valid, num_rays, generator)
    uv = pix.to(views.cameras.K.dtype) + 0.5  # pixel centres
    rays = rays_from_pixels(views.cameras, frame, uv)
    field = out.field()
    samples = sample_occupied(rays, field.grid, num_samples, stratified=True, generator=generator)
    rendered = composite(samples, field(samples.positions(rays)))
    target = views.features[frame, pix[:, 1], pix[:, 0]]  # (R, D)
    feature = cosine_loss(rendered.features, target)
    z = views.depth[frame, pix[:, 1], pix[:, 0]]  # (R,)
    has = z > 0
    if bool(has.any()):
        t = ray_distance(views.cameras, frame[has], uv[has], z[has])
        depth = (rendered.depth[has] - t).abs().mean()
    else:
        depth = feature * 0.0
    return RenderLosses(feature=feature, depth=depth, num_rays=int(frame.numel()))


def projection_loss(out: StudentOutput, views: Views, points: torch.Tensor, tolerance: float,
                    max_points: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cosine between the student's point features and the teacher's features where the points project.

    Args:
        out: the student's field on one scene.
        views: the scene's views.
        points: ``(P, 3)`` the scene's points, metres.
        tolerance: visibility depth-test tolerance, metres.
        max_points: points drawn per step (all if fewer).
        generator: for the draw.
    """
    pick = torch.randperm(points.shape[0], generator=generator)[:max_points]
    sub = points[pick]  # (P', 3)
    m = visible_points(views, sub, tolerance)
    used, inverse = torch.unique(m.point_indices, return_inverse=True)
    feats = out.point_features(sub[used])[inverse]  # (K, D)
    target = views.features[m.frame_indices, m.pixels[:, 1], m.pixels[:, 0]]  # (K, D)
    return cosine_loss(feats, target)
