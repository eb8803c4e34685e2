"""Distillation losses: rendered-feature and depth consistency along rays, and the point-projection baseline.

* ray-marched (ConDense-style): rays through sampled map pixels of each view are marched through the
  student's sparse feature field (``scene3d.render``: occupancy-skipping samples, trilinear field,
  emission-absorption compositing); the rendered feature should point like the teacher's feature at
  that pixel (cosine), and the rendered depth should match the frame's depth.
* projection (OpenScene-style 3D distillation): points are projected into the views, kept where a
  depth test says they are visible, and their per-point feature should point like the teacher's
  feature at their pixel (cosine). No density, no rendering.

Both branches compare (student, teacher) feature pairs with a :class:`FeatureLoss`: the plain cosine,
or a contrastive soft cross-entropy over anchors (the class-name text embeddings, or teacher features
of the same batch) that separates classes whose embeddings lie close together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from scene3d.distill.student import StudentOutput
from scene3d.distill.views import Views, visible_points
from scene3d.render import (
    Cameras,
    camera_directions,
    rays_from_pixels,
)

FEATURE_LOSSES = ("cosine", "text", "batch")
"""The kinds of :class:`FeatureLoss`."""


class RenderLosses(NamedTuple):
    """Per-step losses of the ray-marched branch (scalars) and how many rays carried them."""

    feature: torch.Tensor
    depth: torch.Tensor
    num_rays: int


def _weighted_mean(per_row: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return per_row.mean()
    return (weights * per_row).sum() / weights.sum().clamp(min=1e-12)


def cosine_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``1 - cos(pred_r, target_r)`` over rows of ``(R, D)`` tensors, weighted by ``(R,)`` ``weights``
    if given (0 for R = 0)."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    return _weighted_mean(1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8), weights)


def contrastive_loss(pred: torch.Tensor, target: torch.Tensor, anchors: torch.Tensor, temperature: float,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """Soft cross-entropy between the teacher's and the student's similarity distributions over anchors.

    ``p_r = softmax(t_r . A^T / tau)`` (the teacher's), ``q_r = softmax(unit(s_r) . A^T / tau)`` (the
    student's); the loss is ``sum_r w_r (-sum_k p_rk log q_rk) / sum_r w_r``. Unlike the cosine, a
    prediction halfway between two close anchors costs much, so the student must separate them.

    Args:
        pred: ``(R, D)`` student features (any norm).
        target: ``(R, D)`` unit teacher features.
        anchors: ``(M, D)`` unit anchors (class-name embeddings or teacher features).
        temperature: ``tau > 0``.
        weights: ``(R,)`` non-negative row weights (default 1).

    Returns:
        A scalar; 0 for R = 0.
    """
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    log_q = torch.log_softmax(F.normalize(pred, dim=-1, eps=1e-8) @ anchors.T / temperature, dim=-1)  # (R, M)
    p = torch.softmax(target @ anchors.T / temperature, dim=-1)  # (R, M)
    return _weighted_mean(-(p * log_q).sum(dim=-1), weights)


@dataclass
class FeatureLoss:
    """How a student feature is compared with the teacher feature it should match.

    ``kind``: ``"cosine"`` (mean ``1 - cos``), ``"text"`` (:func:`contrastive_loss` with the
    class-name embeddings ``classes`` as anchors) or ``"batch"`` (:func:`contrastive_loss` with
    ``num_anchors`` teacher features of the same step as anchors). ``balance`` weights every pair by
    the inverse frequency, among the step's pairs, of the teacher's class (its nearest row of
    ``classes``), so small objects count as much as walls.
    """

    kind: str = "cosine"
    """``"cosine"``, ``"text"`` or ``"batch"``."""
    temperature: float = 0.07
    """Softmax temperature of the contrastive kinds (cosine units)."""
    classes: torch.Tensor | None = None
    """``(K, D)`` unit class-name embeddings; needed by ``kind="text"`` and ``balance``."""
    num_anchors: int = 1024
    """Teacher features drawn as anchors per call (``kind="batch"``)."""
    balance: bool = False
    """Weight pairs by the inverse frequency of the teacher's class."""

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_LOSSES:
            raise ValueError(f"FeatureLoss.kind must be one of {FEATURE_LOSSES}, got {self.kind!r}")
        if (self.kind == "text" or self.balance) and self.classes is None:
            raise ValueError(f"FeatureLoss(kind={self.kind!r}, balance={self.balance}) needs the class embeddings")
        if not self.temperature > 0:
            raise ValueError(f"FeatureLoss.temperature must be > 0, got {self.temperature}")

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The loss of ``(R, D)`` student features against ``(R, D)`` unit teacher features."""
        weights = None
        if self.balance and target.shape[0] > 0:
            cls = (target @ self.classes.to(target.dtype).T).argmax(dim=-1)  # (R,)
            weights = 1.0 / torch.bincount(cls, minlength=self.classes.shape[0])[cls].to(pred.dtype)
        if self.kind == "cosine":
            return cosine_loss(pred, target, weights)
        if self.kind == "text":
            anchors = self.classes.to(target.dtype)
        else:
            anchors = target[_permutation(target.shape[0], generator, target.device)[:self.num_anchors]]
        return contrastive_loss(pred, target, anchors, self.temperature, weights)


def _permutation(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``(n,)`` int64 random permutation drawn with ``generator`` (on its own device: a CPU generator
    makes the same draws whatever device the data is on), returned on ``device``."""
    return torch.randperm(n, generator=generator, device=generator.device if generator is not None else device).to(device)


def sample_pixels(valid: torch.Tensor, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` distinct valid pixels drawn uniformly from ``(B, H, W)`` masks.

    Returns:
        ``(frame_indices (R,) int64, pixels (R, 2) int64 (u, v))`` with ``R = min(n, #valid)``.
    """
    flat = valid.reshape(-1).nonzero().flatten()  # (V,)
    pick = flat[_permutation(flat.numel(), generator, flat.device)[:n]]
    hw = valid.shape[1] * valid.shape[2]
    frame, rest = pick // hw, pick % hw
    return frame, torch.stack([rest % valid.shape[2], rest // valid.shape[2]], dim=1)


def ray_distance(cameras: Cameras, frame_indices: torch.Tensor, uv: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Distance along the unit ray through ``uv`` of a point at camera depth ``z``: ``t = z ||K^-1 [u, v, 1]||``.

    Args:
        cameras: B cameras; frame_indices: (R,); uv: (R, 2) continuous pixels; z: (R,) metres.
    """
    d = camera_directions(cameras.K[frame_indices], uv)  # (R, 3)
    return z * torch.linalg.norm(d, dim=-1).to(z.dtype)


def render_losses(out: StudentOutput, views: Views, num_rays: int, num_samples: int,
                  generator: torch.Generator | None = None, loss: FeatureLoss | None = None) -> RenderLosses:
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
        loss: the feature comparison (default: cosine).
    """
    frame, pix = sample_pixels(views.valid, num_rays, generator)
    uv = pix.to(views.cameras.K.dtype) + 0.5  # pixel centres
    rays = rays_from_pixels(views.cameras, frame, uv)
    rendered = out.render_rays(rays, num_samples, stratified=True, generator=generator)
    target = views.features[frame, pix[:, 1], pix[:, 0]]  # (R, D)
    feature = (loss or FeatureLoss())(rendered.features, target, generator)
    z = views.depth[frame, pix[:, 1], pix[:, 0]]  # (R,)
    has = z > 0
    if bool(has.any()):
        t = ray_distance(views.cameras, frame[has], uv[has], z[has])
        depth = (rendered.depth[has] - t).abs().mean()
    else:
        depth = feature * 0.0
    return RenderLosses(feature=feature, depth=depth, num_rays=int(frame.numel()))


def projection_loss(out: StudentOutput, views: Views, points: torch.Tensor, tolerance: float,
                    max_points: int, generator: torch.Generator | None = None,
                    loss: FeatureLoss | None = None, student_points: torch.Tensor | None = None,
                    occlusion: str = "depth") -> torch.Tensor:
    """Cosine between the student's point features and the teacher's features where the points project.

    Args:
        out: the student's field on one scene.
        views: the scene's views.
        points: ``(P, 3)`` the scene's points, metres.
        tolerance: visibility depth-test tolerance, metres.
        max_points: points drawn per step (all if fewer).
        generator: for the draws.
        loss: the feature comparison (default: cosine).
        student_points: ``(P, 3)`` the same points where the student sees them (an augmented copy of
            the room), default ``points``.
        occlusion: the visibility test of :func:`~scene3d.distill.views.visible_points`
            (``"depth"``, ``"zbuffer"`` or ``"none"``); its point z-buffer is made of all ``points``,
            not only the drawn ones.
    """
    pick = _permutation(points.shape[0], generator, points.device)[:max_points]
    sub = points[pick]  # (P', 3)
    m = visible_points(views, sub, tolerance, occlusion, occluders=points)
    used, inverse = torch.unique(m.point_indices, return_inverse=True)
    query = sub if student_points is None else student_points[pick]  # (P', 3)
    feats = out.point_features(query[used])[inverse]  # (K, D)
    target = views.features[m.frame_indices, m.pixels[:, 1], m.pixels[:, 0]]  # (K, D)
    return (loss or FeatureLoss())(feats, target, generator)


def point_target_loss(out: StudentOutput, points: torch.Tensor, targets: torch.Tensor, max_points: int,
                      generator: torch.Generator | None = None, loss: FeatureLoss | None = None) -> torch.Tensor:
    """The feature loss between the student's features at points and fixed per-point targets (e.g. the
    teacher fused over all views, :func:`scene3d.distill.fuse_teacher`): no projection per step.

    Args:
        out: the student's field on one scene.
        points: ``(S, 3)`` where the student reads the points (metres, the student's frame).
        targets: ``(S, D)`` their unit target features (any float dtype; compared in float32).
        max_points: points drawn per step (all if fewer).
        generator: for the draw.
        loss: the feature comparison (default: cosine).
    """
    pick = _permutation(points.shape[0], generator, points.device)[:max_points]
    return (loss or FeatureLoss())(out.point_features(points[pick]), targets[pick].float(), generator)
