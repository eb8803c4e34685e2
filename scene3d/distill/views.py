"""A scene's frames as the teacher sees them: cameras at the map resolution, teacher maps, depth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scene3d.errors import Scene3DError
from scene3d.render import (
    Cameras,
    PointPixelMatches,
    match_points_to_depth,
    zbuffer_depth,
)
from scene3d.structures import Scene
from scene3d.teachers import Teacher


class DistillDataError(Scene3DError, ValueError):
    """A scene cannot be used for distillation (no frames, no points...); the message says which and why."""


@dataclass
class Views:
    """B views of one scene at the teacher's map resolution ``H' x W'``.

    Attributes:
        cameras: B cameras resized to ``H' x W'`` (OpenCV, ``cam_to_world`` 4x4, float32).
        features: ``(B, H', W', D)`` teacher features (unit where valid).
        valid: ``(B, H', W')`` bool, where the teacher gives a feature.
        depth: ``(B, H', W')`` camera z-depth in metres at the map pixel centres (nearest frame
            pixel), 0 = unknown (no depth map or an invalid pixel).
        has_depth: ``(B,)`` bool, whether the frame had a depth map.
    """

    cameras: Cameras
    features: torch.Tensor
    valid: torch.Tensor
    depth: torch.Tensor
    has_depth: torch.Tensor

    def to(self, device: torch.device | str) -> Views:
        """The same views with every tensor on ``device``."""
        return Views(self.cameras.to(device), self.features.to(device), self.valid.to(device), self.depth.to(device),
                     self.has_depth.to(device))

    def select(self, indices: list[int]) -> Views:
        """The views ``indices`` (positions in this batch), in that order."""
        i = torch.as_tensor(indices, dtype=torch.long, device=self.features.device)
        cams = Cameras(self.cameras.K[i], self.cameras.cam_to_world[i], self.cameras.height, self.cameras.width)
        return Views(cams, self.features[i], self.valid[i], self.depth[i], self.has_depth[i])


def scene_views(scene: Scene, teacher: Teacher, frame_indices: list[int] | None = None) -> Views:
    """Run the teacher on (some of) a scene's frames.

    Args:
        scene: a scene with frames of one size.
        teacher: the 2D teacher.
        frame_indices: which frames (default all).

    Raises:
        DistillDataError: the scene has no frames, or frames of different sizes.
    """
    if not scene.frames:
        raise DistillDataError(f"scene {scene.scene_id} has no frames: distillation needs posed frames "
                               "(scene3d generate num_frames>0, or import-scannet with_frames=true)")
    frames = [scene.frames[i] for i in (frame_indices if frame_indices is not None else range(len(scene.frames)))]
    if len({(f.height, f.width) for f in frames}) != 1:
        raise DistillDataError(f"scene {scene.scene_id}: frames of different sizes; resize them to one size")
    maps = [teacher(scene, f) for f in frames]
    h, w = maps[0].height, maps[0].width
    full_h, full_w = frames[0].height, frames[0].width
    cams = Cameras(torch.from_numpy(np.stack([f.K for f in frames])).float(),
                   torch.from_numpy(np.stack([f.cam_to_world for f in frames])).float(), full_h, full_w).resize(h, w)
    # frame pixel containing each map pixel centre ((i + 0.5) W / W')
    rows = np.minimum(((np.arange(h) + 0.5) * full_h / h).astype(np.int64), full_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * full_w / w).astype(np.int64), full_w - 1)
    depth = np.stack([f.depth[np.ix_(rows, cols)] if f.depth is not None else np.zeros((h, w), np.float32)
                      for f in frames])
    return Views(cameras=cams, features=torch.stack([m.features for m in maps]),
                 valid=torch.stack([m.valid for m in maps]), depth=torch.from_numpy(depth),
                 has_depth=torch.tensor([f.depth is not None for f in frames]))


OCCLUSION = ("depth", "zbuffer", "none")
"""How :func:`visible_points` decides that a point is hidden in a view."""


def visible_points(views: Views, points: torch.Tensor, tolerance: float, occlusion: str = "depth",
                   occluders: torch.Tensor | None = None) -> PointPixelMatches:
    """Point <-> map-pixel matches of the points each view sees (OpenScene-style projection).

    Visibility (``occlusion``, one of :data:`OCCLUSION`):

    * ``"depth"``: a depth test against the frame's depth map (``|z - depth| <= tolerance``; pixels
      without depth (0) match nothing) or, for frames without a depth map, against the point
      z-buffer of ``occluders``;
    * ``"zbuffer"``: the point z-buffer of ``occluders`` for every frame (sensor depth unused): a
      point is kept if it lies within ``tolerance`` behind the nearest occluder in its pixel;
    * ``"none"``: no occlusion test: every point in front of the camera and inside the image.

    Only pixels where the teacher is valid are kept.

    Args:
        views: B views.
        points: ``(P, 3)`` world points, metres.
        tolerance: depth-test tolerance, metres.
        occlusion: the visibility test.
        occluders: ``(Q, 3)`` world points whose z-buffer hides the others (the whole cloud when
            ``points`` is a subsample of it), metres; default ``points``.

    Returns:
        ``PointPixelMatches`` (point index, view index, pixel (u, v), camera z).

    Raises:
        ValueError: an unknown ``occlusion``.
    """
    if occlusion not in OCCLUSION:
        raise ValueError(f"occlusion must be one of {OCCLUSION}, got {occlusion!r}")
    occluders = points if occluders is None else occluders
    if occlusion == "none":
        # every candidate passes: a finite positive reference with an infinite tolerance
        m = match_points_to_depth(views.cameras, points, torch.ones_like(views.depth), float("inf"))
    else:
        use_map = views.has_depth if occlusion == "depth" else torch.zeros_like(views.has_depth)
        depth = views.depth
        if not bool(use_map.all()):
            zbuf = zbuffer_depth(views.cameras, occluders)  # (B, H', W'), inf where empty
            depth = torch.where(use_map[:, None, None], depth, zbuf)
        m = match_points_to_depth(views.cameras, points, depth, tolerance)
    keep = views.valid[m.frame_indices, m.pixels[:, 1], m.pixels[:, 0]]
    return PointPixelMatches(m.point_indices[keep], m.frame_indices[keep], m.pixels[keep], m.depth[keep])
