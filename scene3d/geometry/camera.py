"""Pinhole cameras in numpy: intrinsics, poses, projection and back-projection.

Conventions (the same as :mod:`scene3d.render.cameras`, which holds the batched torch
counterparts used by the renderer and the distillation losses):

* World frame right-handed, z up, metres.
* Camera frame OpenCV: x right, y down, z forward (the viewing direction).
* ``cam_to_world`` is a (4, 4) rigid transform: ``X_world = R @ X_cam + t``.
* ``K`` is a (3, 3) pinhole matrix in pixels, last row ``[0, 0, 1]``, fx = ``K[0, 0]`` > 0,
  fy = ``K[1, 1]`` > 0, skew ``K[0, 1]`` (usually 0). Pixel coordinates are continuous
  ``(u, v)`` = (column, row) and ``[u, v, 1]^T ~ K X_cam``; the pixel with integer index
  ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and its centre is ``(i + 0.5, j + 0.5)``.
* Depth is camera z (metres along the optical axis), as in ``Frame.depth``; not the ray length.
"""

from __future__ import annotations

import math

import numpy as np

from scene3d.geometry.transforms import apply_transform


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """(3, 3) float64 pinhole K of a ``width`` x ``height`` pixel image with a horizontal field of
    view of ``hfov_deg`` degrees: square pixels, no skew, principal point at the image centre."""
    f = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) float64 OpenCV ``cam_to_world`` of a camera at ``eye`` (3,) looking at ``target`` (3,),
    world metres, z up: the image's x axis is horizontal (no roll), its y axis points down.

    Raises:
        ValueError: when the view direction is vertical (roll undefined).
    """
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("look_at: the view direction is vertical")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
    return pose


def camera_directions(K: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """``K^-1 [u, v, 1]``: the camera-frame direction through each pixel position, scaled to z = 1.

    Args:
        K: (3, 3) pinhole intrinsics, pixels.
        uv: (..., 2) continuous pixel coordinates (column u, row v; centres at +0.5).

    Returns:
        (..., 3) float64 directions ``(x, y, 1)`` in camera axes (not unit length: multiply by a
        depth to get the camera point at that depth).
    """
    uv = np.asarray(uv, dtype=np.float64)
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def backproject(uv: np.ndarray, depth: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray | None = None) -> np.ndarray:
    """Lift pixels with a depth to 3D points.

    Args:
        uv: (N, 2) continuous pixel coordinates.
        depth: (N,) camera z, metres (> 0 for a real point).
        K: (3, 3) pinhole intrinsics, pixels.
        cam_to_world: (4, 4) pose; None gives the points in the camera frame.

    Returns:
        (N, 3) float64 points, metres: world frame when ``cam_to_world`` is given, else camera frame.
    """
    points = camera_directions(K, uv) * np.asarray(depth, dtype=np.float64)[..., None]
    return points if cam_to_world is None else apply_transform(cam_to_world, points)


def project(points: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points into a camera; the inverse of :func:`backproject` for points in front.

    Args:
        points: (N, 3) world points, metres.
        K: (3, 3) pinhole intrinsics, pixels.
        cam_to_world: (4, 4) pose.

    Returns:
        ``(uv, depth)``: (N, 2) float64 continuous pixel coordinates and (N,) float64 camera z,
        metres. Points with ``depth <= 0`` lie behind the camera and their ``uv`` is meaningless
        (inf or nan at depth 0).
    """
    cam = apply_transform(np.linalg.inv(cam_to_world), np.asarray(points, dtype=np.float64))
    depth = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = cam[:, 0] / depth, cam[:, 1] / depth
    uv = np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)
    return uv, depth
