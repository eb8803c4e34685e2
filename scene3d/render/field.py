"""A feature field on a sparse voxel grid: trilinear interpolation of per-voxel values.

Convention (see ``docs/render.md``): the value of voxel ``c`` is stored at its **centre**
``origin + (c + 0.5) * voxel_size``. A point ``p`` with continuous voxel coordinate
``w = (p - origin) / voxel_size`` is interpolated trilinearly from the 8 voxel centres
around it: corners ``floor(w - 0.5) + {0, 1}^3`` with the usual weights. A corner voxel
that is not occupied contributes **zero** (it is not renormalised away). On a dense grid
this is exactly ``torch.nn.functional.grid_sample(..., mode="bilinear",
padding_mode="zeros", align_corners=False)``.

:class:`SparseVoxelField` additionally restricts its support to the occupied voxels: a
point whose containing voxel ``floor(w)`` is not occupied has density 0 and features 0.
This makes empty-space skipping with :func:`~scene3d.render.sampling.sample_occupied`
exact, not an approximation.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from scene3d.render.errors import RenderInputError, check_finite, check_shape
from scene3d.render.grid import SparseVoxelGrid

__all__ = ["Corners", "FieldOutput", "Interpolation", "trilinear_corners", "blend_corners", "trilinear_interpolate", "SparseVoxelField"]

# (8, 3) corner offsets; corner k = 4 * dx + 2 * dy + dz.
_CORNERS = torch.tensor([[dx, dy, dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)])


class Corners(NamedTuple):
    """The 8 interpolation corners of P points (see :func:`trilinear_corners`).

    Attributes:
        indices: (P, 8) int64 voxel index of each corner; 0 where the corner is not occupied
            (its weight is then 0), so the indices are always safe to gather with.
        weights: (P, 8) trilinear weights, zeroed for unoccupied corners.
        support: (P,) bool, True where the voxel containing the point is occupied.
    """

    indices: torch.Tensor
    weights: torch.Tensor
    support: torch.Tensor


class Interpolation(NamedTuple):
    """Result of :func:`trilinear_interpolate`.

    Attributes:
        values: (P, C) interpolated values.
        support: (P,) bool, True where the voxel containing the point is occupied.
    """

    values: torch.Tensor
    support: torch.Tensor


class FieldOutput(NamedTuple):
    """Output of a field at P sample points.

    Attributes:
        features: (P, D) feature vectors.
        density: (P,) volume density sigma >= 0, in 1/metre.
    """

    features: torch.Tensor
    density: torch.Tensor


def trilinear_corners(grid: SparseVoxelGrid, points: torch.Tensor) -> Corners:
    """Corner voxels and trilinear weights of world points (the lookup half of interpolation).

    Corners are the voxels ``floor(w - 0.5) + {0, 1}^3`` around ``w = (p - origin) / voxel_size``;
    corner ``k = 4 dx + 2 dy + dz``. One hash lookup of 8 keys per point. Differentiable with
    respect to ``points`` through the weights.

    Args:
        grid: the occupied-voxel set.
        points: (P, 3) world points, metres, floating.

    Returns:
        :class:`Corners` with indices (P, 8), weights (P, 8) in the dtype of ``points``, support (P,).

    Raises:
        RenderInputError: on a wrong shape or non-finite points.
    """
    check_shape("points", points, (None, 3))
    check_finite("points", points)
    w = grid.world_to_voxel(points)  # (P, 3) continuous voxel coordinates
    u = w - 0.5  # (P, 3) in voxel-centre units
    base = torch.floor(u)  # (P, 3)
    frac = u - base  # (P, 3) in [0, 1)
    base = base.long()
    corners = _CORNERS.to(points.device)  # (8, 3)
    idx = grid.neighbour_lookup(base, corners)  # (P, 8), -1 = not occupied
    # Containing voxel floor(w) is corner (floor(w) - base) in {0, 1}^3.
    cell = (torch.floor(w).long() - base).clamp(0, 1)  # (P, 3)
    own = idx.gather(1, (cell[:, 0] * 4 + cell[:, 1] * 2 + cell[:, 2])[:, None]).squeeze(1)  # (P,)
    per_axis = torch.stack([1.0 - frac, frac])  # (2, P, 3): weight of offset 0 / 1 per axis
    weights = (
        per_axis[corners[:, 0], :, 0] * per_axis[corners[:, 1], :, 1] * per_axis[corners[:, 2], :, 2]
    ).T  # (P, 8)
    occupied = idx >= 0
    return Corners(
        indices=idx.clamp_min(0),
        weights=weights * occupied.to(weights.dtype),
        support=own >= 0,
    )


class _BlendCorners(torch.autograd.Function):
    """``out[p] = sum_k weights[p, k] * values[indices[p, k]]`` with a memory-light backward.

    Autograd through 8 ``index_select`` + ``addcmul`` steps would keep 8 gathered (P, C) blocks
    and allocate 8 zeroed (M, C) gradients; this backward accumulates into one (M, C) buffer and
    re-gathers only what the weight gradient needs. The backward is written with differentiable
    ops, so double backward works too.
    """

    @staticmethod
    def forward(ctx, values: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = values.new_zeros(indices.shape[0], values.shape[1])  # (P, C)
        for k in range(indices.shape[1]):
            out.addcmul_(weights[:, k, None], values.index_select(0, indices[:, k]))
        ctx.save_for_backward(values, weights, indices)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        values, weights, indices = ctx.saved_tensors
        grad_values = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_values = torch.zeros_like(values)  # (M, C)
            for k in range(indices.shape[1]):
                grad_values.index_add_(0, indices[:, k], grad_out * weights[:, k, None])
        if ctx.needs_input_grad[1]:
            grad_weights = torch.stack(
                [(grad_out * values.index_select(0, indices[:, k])).sum(-1) for k in range(indices.shape[1])], dim=1
            )  # (P, 8)
        return grad_values, grad_weights, None


def blend_corners(corners: Corners, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum of per-voxel values at the corners: (P, C) from values (M, C).

    Loops over the 8 corners (never over points); memory O(P * C) per step, and one (M, C)
    gradient buffer in backward. Differentiable (also twice) with respect to ``values`` and the
    corner weights.
    """
    return _BlendCorners.apply(values, corners.weights, corners.indices)


def trilinear_interpolate(grid: SparseVoxelGrid, values: torch.Tensor, points: torch.Tensor) -> Interpolation:
    """Trilinearly interpolate per-voxel values (stored at voxel centres) at world points.

    Unoccupied corner voxels contribute zero (see module docstring). Differentiable with
    respect to ``values`` and ``points`` (the latter almost everywhere: the corner set
    changes across voxel-centre planes). Equals :func:`blend_corners` of :func:`trilinear_corners`.

    Args:
        grid: the occupied-voxel set with M voxels.
        values: (M, C) per-voxel values, row m for ``grid.coords[m]``.
        points: (P, 3) world points, metres, same dtype as ``values``.

    Returns:
        :class:`Interpolation`: values (P, C) and support (P,) bool.

    Raises:
        RenderInputError: on wrong shapes or mismatched dtypes.
    """
    check_shape("values", values, (grid.num_voxels, None))
    check_shape("points", points, (None, 3))
    if values.dtype != points.dtype:
        raise RenderInputError(f"values and points must share a dtype, got {values.dtype} and {points.dtype}")
    corners = trilinear_corners(grid, points)
    return Interpolation(values=blend_corners(corners, values), support=corners.support)


class SparseVoxelField(nn.Module):
    """Per-voxel features and densities on a sparse grid, read by trilinear interpolation.

    ``forward(p)`` returns ``features = F(p)`` and ``density = relu(sigma(p))`` where ``F`` and
    ``sigma`` are :func:`trilinear_interpolate` of the per-voxel tables, both zeroed where the
    voxel containing ``p`` is not occupied.

    Args:
        grid: the occupied-voxel set with M voxels (registered as a submodule).
        features: (M, D) per-voxel features.
        density: (M,) per-voxel densities, 1/metre (non-negative for a physical field; the
            ReLU after interpolation clips negatives).
        learnable: if True, store copies as ``nn.Parameter`` (optimise the field directly);
            if False, keep the given tensors as plain attributes so gradients flow back into
            whatever produced them (e.g. a sparse U-Net in distillation); they then do not
            move with ``.to()``.

    Raises:
        RenderInputError: on wrong shapes, non-floating or mismatched dtypes.
    """

    def __init__(self, grid: SparseVoxelGrid, features: torch.Tensor, density: torch.Tensor, learnable: bool = True) -> None:
        super().__init__()
        check_shape("features", features, (grid.num_voxels, None))
        check_shape("density", density, (grid.num_voxels,))
        if not features.is_floating_point() or features.dtype != density.dtype:
            raise RenderInputError(
                f"features and density must share one floating dtype, got {features.dtype} and {density.dtype}"
            )
        self.grid = grid
        if learnable:
            self.features = nn.Parameter(features.detach().clone())
            self.density = nn.Parameter(density.detach().clone())
        else:
            self.features = features
            self.density = density

    def forward(self, positions: torch.Tensor) -> FieldOutput:
        """Evaluate the field.

        Args:
            positions: (P, 3) world points, metres (cast to the field's dtype).

        Returns:
            :class:`FieldOutput` with features (P, D) and density (P,) in 1/metre.
        """
        corners = trilinear_corners(self.grid, positions.to(self.features.dtype))
        mask = corners.support.to(self.features.dtype)  # (P,)
        weights = corners.weights * mask[:, None]  # (P, 8): zero outside the occupied voxels
        corners = corners._replace(weights=weights)
        features = blend_corners(corners, self.features)  # (P, D)
        density = blend_corners(corners, self.density[:, None])[:, 0]  # (P,)
        return FieldOutput(features=features, density=torch.relu(density))
