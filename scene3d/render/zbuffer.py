"""Point <-> pixel correspondences with visibility: point z-buffers and depth tests.

A point projects to the pixel ``(floor(u), floor(v))`` containing its continuous projection
(pixel centres at +0.5). Every function projects all N points into all B frames at once
(memory O(B N)); call it on chunks of frames for very large batches. Depth maps are camera z-depth in metres (like ``Frame.depth``);
convert a rendered ray-distance depth with :func:`ray_depth_to_z`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from scene3d.render.cameras import (
    Cameras,
    camera_directions,
    pixel_centers,
    project_points,
)
from scene3d.render.errors import RenderInputError, check_finite, check_shape

__all__ = ["PointPixelMatches", "zbuffer_depth", "zbuffer_points", "match_points_to_depth", "ray_depth_to_z"]


class PointPixelMatches(NamedTuple):
    """Point <-> pixel correspondences, K of them, sorted by (frame, point).

    Attributes:
        point_indices: (K,) int64 index into the points.
        frame_indices: (K,) int64 index into the camera batch.
        pixels: (K, 2) int64 pixel ``(u, v)`` = (column, row).
        depth: (K,) camera z of the point, metres.
    """

    point_indices: torch.Tensor
    frame_indices: torch.Tensor
    pixels: torch.Tensor
    depth: torch.Tensor


class _Candidates(NamedTuple):
    frame: torch.Tensor  # (K,) int64
    point: torch.Tensor  # (K,) int64
    pixel_id: torch.Tensor  # (K,) int64 = frame * H * W + v * W + u
    pixels: torch.Tensor  # (K, 2) int64 (u, v)
    depth: torch.Tensor  # (K,)


def _candidates(cameras: Cameras, points: torch.Tensor, near: float) -> _Candidates:
    """All (frame, point) pairs with the point in front (z > near) and inside the image."""
    proj = project_points(cameras, points)  # uv (B, N, 2), depth (B, N)
    pix = torch.floor(proj.uv.clamp(-1.0, float(max(cameras.height, cameras.width)) + 1.0)).long()  # (B, N, 2)
    valid = (
        (proj.depth > near)
        & (pix[..., 0] >= 0) & (pix[..., 0] < cameras.width)
        & (pix[..., 1] >= 0) & (pix[..., 1] < cameras.height)
    )  # (B, N)
    frame, point = valid.nonzero(as_tuple=True)  # (K,) each, sorted by (frame, point)
    pixels = pix[frame, point]  # (K, 2)
    pixel_id = (frame * cameras.height + pixels[:, 1]) * cameras.width + pixels[:, 0]
    return _Candidates(frame, point, pixel_id, pixels, proj.depth[frame, point])


def zbuffer_depth(cameras: Cameras, points: torch.Tensor, near: float = 1e-6) -> torch.Tensor:
    """Depth map of the nearest projected point per pixel (a point z-buffer).

    Args:
        cameras: B cameras of size H x W.
        points: (N, 3) world points, metres.
        near: points with camera z <= near are ignored, metres.

    Returns:
        (B, H, W) camera z of the nearest point in each pixel, metres; ``inf`` where no point lands.
    """
    cand = _candidates(cameras, points, near)
    size = len(cameras) * cameras.height * cameras.width
    zbuf = torch.full((size,), float("inf"), dtype=cand.depth.dtype, device=cand.depth.device)
    zbuf = zbuf.scatter_reduce(0, cand.pixel_id, cand.depth, reduce="amin")
    return zbuf.view(len(cameras), cameras.height, cameras.width)


def zbuffer_points(cameras: Cameras, points: torch.Tensor, near: float = 1e-6) -> PointPixelMatches:
    """The nearest point of every pixel that some point lands in (one match per such pixel).

    Ties in depth go to the lowest point index.

    Args:
        cameras: B cameras of size H x W.
        points: (N, 3) world points, metres.
        near: points with camera z <= near are ignored, metres.

    Returns:
        :class:`PointPixelMatches`, at most one per (frame, pixel).
    """
    cand = _candidates(cameras, points, near)
    size = len(cameras) * cameras.height * cameras.width
    zbuf = torch.full((size,), float("inf"), dtype=cand.depth.dtype, device=cand.depth.device)
    zbuf = zbuf.scatter_reduce(0, cand.pixel_id, cand.depth, reduce="amin")  # (B*H*W,)
    nearest = cand.depth == zbuf[cand.pixel_id]  # (K,)
    big = torch.full((size,), points.shape[0], dtype=torch.long, device=cand.point.device)
    owner = big.scatter_reduce(0, cand.pixel_id[nearest], cand.point[nearest], reduce="amin")  # (B*H*W,)
    keep = nearest & (owner[cand.pixel_id] == cand.point)
    return PointPixelMatches(cand.point[keep], cand.frame[keep], cand.pixels[keep], cand.depth[keep])


def match_points_to_depth(
    cameras: Cameras, points: torch.Tensor, depth_maps: torch.Tensor, tolerance: float, near: float = 1e-6
) -> PointPixelMatches:
    """Points whose camera z agrees with a depth map at their pixel (a visibility test).

    A point is visible in frame b if it projects inside the image, ``z > near``, the map is
    valid there (finite and > 0) and ``|z - depth_maps[b, v, u]| <= tolerance``. Use a sensor
    depth map, a rendered one (:func:`ray_depth_to_z`) or :func:`zbuffer_depth` (then all points
    within ``tolerance`` behind the nearest one are kept).

    Args:
        cameras: B cameras of size H x W.
        points: (N, 3) world points, metres.
        depth_maps: (B, H, W) camera z-depth, metres; 0, negative or non-finite = invalid.
        tolerance: accepted |z - depth| in metres (>= 0).
        near: points with camera z <= near are ignored, metres.

    Returns:
        :class:`PointPixelMatches`, any number per pixel.

    Raises:
        RenderInputError: on a wrong depth-map shape or a negative or NaN tolerance.
    """
    check_shape("depth_maps", depth_maps, (len(cameras), cameras.height, cameras.width))
    if not tolerance >= 0:
        raise RenderInputError(f"tolerance: must be >= 0 metres, got {tolerance}")
    cand = _candidates(cameras, points, near)
    ref = depth_maps.reshape(-1)[cand.pixel_id].to(cand.depth.dtype)  # (K,)
    keep = torch.isfinite(ref) & (ref > 0) & ((cand.depth - ref).abs() <= tolerance)
    return PointPixelMatches(cand.point[keep], cand.frame[keep], cand.pixels[keep], cand.depth[keep])


def ray_depth_to_z(cameras: Cameras, ray_depth: torch.Tensor) -> torch.Tensor:
    """Convert distance along pixel-centre rays to camera z-depth.

    For the unit ray through pixel centre ``(u, v)``, ``z = t / ||K^-1 [u, v, 1]||``.

    Args:
        cameras: B cameras of size H x W.
        ray_depth: (B, H, W) distances along the rays of :func:`~scene3d.render.cameras.rays_from_cameras`, metres.

    Returns:
        (B, H, W) camera z-depth, metres.

    Raises:
        RenderInputError: on a wrong shape or non-finite values.
    """
    check_shape("ray_depth", ray_depth, (len(cameras), cameras.height, cameras.width))
    check_finite("ray_depth", ray_depth)
    uv = pixel_centers(cameras.height, cameras.width, device=cameras.device, dtype=cameras.K.dtype)  # (H*W, 2)
    rays_cam = camera_directions(cameras.K[:, None], uv[None])  # (B, H*W, 3)
    scale = torch.linalg.norm(rays_cam, dim=-1).view(len(cameras), cameras.height, cameras.width)
    return ray_depth / scale.to(ray_depth.dtype)
