"""Batched pinhole cameras: pixel -> ray, world -> pixel, crops and resizes.

Conventions (see ``docs/render.md``):

* World frame right-handed, z up, metres.
* Camera frame OpenCV: x right, y down, z forward (the viewing direction).
* ``cam_to_world`` is a 4x4 rigid transform mapping camera coordinates to world
  coordinates: ``X_world = R @ X_cam + t``.
* Pixel coordinates are continuous ``(u, v)`` = (column, row); the pixel with integer
  index ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and its centre is ``(i + 0.5, j + 0.5)``.
  ``K`` maps camera points to these continuous coordinates: ``[u, v, 1]^T ~ K X_cam``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from scene3d.render.errors import RenderInputError, check_finite, check_shape

__all__ = ["Cameras", "Rays", "Projection", "camera_directions", "pixel_centers", "rays_from_pixels", "rays_from_cameras", "project_points"]


class Rays(NamedTuple):
    """A packed batch of rays.

    Attributes:
        origins: (R, 3) ray origins, world metres.
        directions: (R, 3) unit ray directions, world frame.
    """

    origins: torch.Tensor
    directions: torch.Tensor


class Projection(NamedTuple):
    """World points projected into every camera of a batch.

    Attributes:
        uv: (B, N, 2) continuous pixel coordinates (column u, row v); pixel centres at +0.5.
        depth: (B, N) camera-frame z (metres along the optical axis); <= 0 means behind the camera.
    """

    uv: torch.Tensor
    depth: torch.Tensor


@dataclass(frozen=True, eq=False)
class Cameras:
    """A batch of B pinhole cameras sharing one image size.

    Attributes:
        K: (B, 3, 3) intrinsics, floating; ``K[:, 2] == [0, 0, 1]``, fx, fy > 0, no skew required.
        cam_to_world: (B, 4, 4) rigid camera-to-world transforms (OpenCV camera axes).
        height: image height H in pixels (> 0).
        width: image width W in pixels (> 0).

    Raises:
        RenderInputError: on wrong shapes, non-floating or non-finite matrices, a bad last
            row of ``K`` or ``cam_to_world``, non-positive focal lengths or image size,
            or a rotation that is not orthonormal (tolerance 1e-3).
    """

    K: torch.Tensor
    cam_to_world: torch.Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        check_shape("Cameras.K", self.K, (None, 3, 3))
        batch = self.K.shape[0]
        check_shape("Cameras.cam_to_world", self.cam_to_world, (batch, 4, 4))
        for name, mat in (("Cameras.K", self.K), ("Cameras.cam_to_world", self.cam_to_world)):
            if not mat.is_floating_point():
                raise RenderInputError(f"{name}: expected a floating dtype, got {mat.dtype}")
            check_finite(name, mat)
        if self.K.dtype != self.cam_to_world.dtype or self.K.device != self.cam_to_world.device:
            raise RenderInputError(
                "Cameras: K and cam_to_world must share dtype and device, got "
                f"{self.K.dtype}/{self.K.device} and {self.cam_to_world.dtype}/{self.cam_to_world.device}"
            )
        if int(self.height) <= 0 or int(self.width) <= 0:
            raise RenderInputError(f"Cameras: height and width must be > 0, got {self.height}x{self.width}")
        last_k = self.K.new_tensor([0.0, 0.0, 1.0])
        if not torch.allclose(self.K[:, 2], last_k.expand(batch, 3)):
            raise RenderInputError("Cameras.K: the last row must be [0, 0, 1]")
        if bool((self.K[:, 0, 0] <= 0).any()) or bool((self.K[:, 1, 1] <= 0).any()):
            raise RenderInputError("Cameras.K: focal lengths fx = K[:,0,0] and fy = K[:,1,1] must be > 0")
        last_t = self.cam_to_world.new_tensor([0.0, 0.0, 0.0, 1.0])
        if not torch.allclose(self.cam_to_world[:, 3], last_t.expand(batch, 4)):
            raise RenderInputError("Cameras.cam_to_world: the last row must be [0, 0, 0, 1]")
        rot = self.cam_to_world[:, :3, :3]
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand(batch, 3, 3)
        if not torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-3):
            raise RenderInputError(
                "Cameras.cam_to_world: the 3x3 block is not a rotation (R R^T != I within 1e-3); "
                "pass a rigid camera-to-world transform, not a projection or a scaled pose"
            )

    def __len__(self) -> int:
        return self.K.shape[0]

    @property
    def device(self) -> torch.device:
        """The device of ``K`` and ``cam_to_world``."""
        return self.K.device

    def to(self, device: torch.device | str) -> Cameras:
        """Return the same cameras on ``device``."""
        return Cameras(self.K.to(device), self.cam_to_world.to(device), self.height, self.width)

    def world_to_cam(self) -> torch.Tensor:
        """(B, 4, 4) world-to-camera transforms (closed-form rigid inverse)."""
        rot_t = self.cam_to_world[:, :3, :3].transpose(1, 2)  # (B, 3, 3)
        out = torch.zeros_like(self.cam_to_world)
        out[:, :3, :3] = rot_t
        out[:, :3, 3] = -(rot_t @ self.cam_to_world[:, :3, 3:4]).squeeze(-1)
        out[:, 3, 3] = 1.0
        return out

    def crop(self, top: int, left: int, height: int, width: int) -> Cameras:
        """Cameras for the crop ``rows [top, top+height) x cols [left, left+width)``.

        The principal point shifts by ``(-left, -top)``; pixel ``(i, j)`` of the crop is pixel
        ``(i + left, j + top)`` of the original image, and sees the same ray.

        Raises:
            RenderInputError: if the crop is empty or leaves the image.
        """
        if height <= 0 or width <= 0 or top < 0 or left < 0 or top + height > self.height or left + width > self.width:
            raise RenderInputError(
                f"Cameras.crop: window top={top} left={left} {height}x{width} is empty or leaves "
                f"the {self.height}x{self.width} image"
            )
        K = self.K.clone()
        K[:, 0, 2] -= left
        K[:, 1, 2] -= top
        return Cameras(K, self.cam_to_world, height, width)

    def resize(self, height: int, width: int) -> Cameras:
        """Cameras for the whole image resampled to ``height x width`` pixels.

        Continuous pixel coordinates scale by ``sx = width / W``, ``sy = height / H``
        (image edges map to image edges), so ``K' = diag(sx, sy, 1) @ K``.

        Raises:
            RenderInputError: if the new size is not positive.
        """
        if height <= 0 or width <= 0:
            raise RenderInputError(f"Cameras.resize: size must be > 0, got {height}x{width}")
        scale = self.K.new_tensor([width / self.width, height / self.height, 1.0])
        return Cameras(scale[:, None] * self.K, self.cam_to_world, height, width)

    def downscale(self, factor: int) -> Cameras:
        """Cameras for the image downscaled by an integer ``factor`` (e.g. 2x2 average pooling).

        Raises:
            RenderInputError: if ``factor`` is not a positive integer dividing H and W.
        """
        if int(factor) != factor or factor <= 0 or self.height % factor or self.width % factor:
            raise RenderInputError(
                f"Cameras.downscale: factor must be a positive integer dividing {self.height}x{self.width}, "
                f"got {factor}; use Cameras.resize for other sizes"
            )
        return self.resize(self.height // factor, self.width // factor)


def pixel_centers(height: int, width: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H*W, 2) continuous ``(u, v)`` coordinates of all pixel centres, row-major (v slow, u fast).

    Pixel ``(i, j)`` (column i, row j) has centre ``(i + 0.5, j + 0.5)`` and sits at row
    ``j * W + i`` of the result.
    """
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype) + 0.5,
        torch.arange(width, device=device, dtype=dtype) + 0.5,
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def camera_directions(K: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """``K^-1 [u, v, 1]``: camera-frame directions through pixel positions, scaled to z = 1.

    The torch twin of :func:`scene3d.geometry.camera.camera_directions` (same formula, so the
    same numbers in float64). A point at camera depth ``z`` on the ray is ``z * d``; its distance
    from the camera centre is ``z * ||d||``.

    Args:
        K: (..., 3, 3) intrinsics, broadcastable against ``uv``'s batch dimensions.
        uv: (..., 2) continuous pixel coordinates (column u, row v; centres at +0.5).

    Returns:
        (..., 3) directions ``(x, y, 1)`` in camera axes, in ``K``'s dtype (not unit length).
    """
    uv = uv.to(K.dtype)
    y = (uv[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (uv[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)


def rays_from_pixels(cameras: Cameras, frame_indices: torch.Tensor, uv: torch.Tensor) -> Rays:
    """Rays through continuous pixel coordinates.

    Args:
        cameras: a batch of B cameras.
        frame_indices: (R,) int64 index into the camera batch, one per ray.
        uv: (R, 2) continuous pixel coordinates ``(u, v)``; centres are at +0.5.

    Returns:
        :class:`Rays` with origins (R, 3) = camera centres and unit directions (R, 3), world
        frame, in the dtype of the cameras. A point at ray distance ``t`` has camera depth
        ``z = t * d_cam_z`` where ``d_cam_z`` is the z of the unit direction in camera axes.

    Raises:
        RenderInputError: on wrong shapes, non-finite ``uv`` or out-of-range frame indices.
    """
    check_shape("frame_indices", frame_indices, (None,))
    check_shape("uv", uv, (frame_indices.shape[0], 2))
    check_finite("uv", uv)
    if frame_indices.dtype not in (torch.int32, torch.int64):
        raise RenderInputError(f"frame_indices: expected an integer dtype, got {frame_indices.dtype}")
    if frame_indices.numel() and (int(frame_indices.min()) < 0 or int(frame_indices.max()) >= len(cameras)):
        raise RenderInputError(f"frame_indices: values must lie in [0, {len(cameras)})")
    frame_indices = frame_indices.long()
    d_cam = camera_directions(cameras.K[frame_indices], uv)  # (R, 3)
    pose = cameras.cam_to_world[frame_indices]  # (R, 4, 4)
    d_world = (pose[:, :3, :3] @ d_cam.unsqueeze(-1)).squeeze(-1)  # (R, 3)
    directions = d_world / torch.linalg.norm(d_world, dim=-1, keepdim=True)
    return Rays(origins=pose[:, :3, 3].contiguous(), directions=directions)


def rays_from_cameras(cameras: Cameras) -> Rays:
    """Rays through every pixel centre of every camera, packed frame-major.

    Ray ``b * H * W + j * W + i`` goes through the centre ``(i + 0.5, j + 0.5)`` of column i,
    row j of camera b.

    Returns:
        :class:`Rays` with origins (B*H*W, 3) and unit directions (B*H*W, 3), world frame.
    """
    hw = cameras.height * cameras.width
    uv = pixel_centers(cameras.height, cameras.width, device=cameras.device, dtype=cameras.K.dtype)
    frames = torch.arange(len(cameras), device=cameras.device).repeat_interleave(hw)  # (B*H*W,)
    return rays_from_pixels(cameras, frames, uv.repeat(len(cameras), 1))


def project_points(cameras: Cameras, points: torch.Tensor) -> Projection:
    """Project world points into every camera.

    Args:
        cameras: a batch of B cameras.
        points: (N, 3) world points, metres.

    Returns:
        :class:`Projection` with ``uv`` (B, N, 2) continuous pixel coordinates and ``depth``
        (B, N) camera z in metres. Points with ``depth <= 0`` are behind the camera; their
        ``uv`` is computed with the depth clamped to 1e-12 in magnitude and is meaningless.

    Raises:
        RenderInputError: on a wrong shape or non-finite points.
    """
    check_shape("points", points, (None, 3))
    check_finite("points", points)
    points = points.to(cameras.K.dtype)
    w2c = cameras.world_to_cam()  # (B, 4, 4)
    p_cam = torch.einsum("bij,nj->bni", w2c[:, :3, :3], points) + w2c[:, None, :3, 3]  # (B, N, 3)
    depth = p_cam[..., 2]  # (B, N)
    safe = torch.where(depth.abs() < 1e-12, torch.full_like(depth, 1e-12), depth)
    pix = torch.einsum("bij,bnj->bni", cameras.K, p_cam / safe.unsqueeze(-1))  # (B, N, 3)
    return Projection(uv=pix[..., :2], depth=depth)
