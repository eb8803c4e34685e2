"""Points (metres, world z-up) to a ``SparseTensor`` and voxel features back to points."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from scene3d.sparse.coords import check_coordinate_bounds, offset_deltas, pack_keys, unpack_keys
from scene3d.sparse.errors import SparseCoordinateError, SparseTensorError
from scene3d.sparse.tensor import SparseTensor


def _check_points(points: Tensor, name: str) -> None:
    if not isinstance(points, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(points).__name__}")
    if not points.is_floating_point():
        raise TypeError(f"{name} must be floating point (metres), got {points.dtype}")
    if points.dim() != 2 or points.shape[1] != 3:
        raise SparseTensorError(f"{name} must be (P, 3), got shape {tuple(points.shape)}")
    bad = ~torch.isfinite(points).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        raise SparseCoordinateError(
            f"{name} has {rows.numel()} non-finite (NaN/inf) rows, first at row {int(rows[0])}: "
            f"{points[rows[0]].tolist()}; drop them before voxelizing"
        )


def _batch_index(batch: Tensor | None, n: int, device: torch.device) -> Tensor:
    if batch is None:
        return torch.zeros(n, dtype=torch.int64, device=device)
    if not isinstance(batch, Tensor) or batch.is_floating_point() or batch.dtype == torch.bool:
        raise TypeError("batch must be an integer torch.Tensor of shape (P,)")
    if batch.shape != (n,):
        raise SparseTensorError(f"batch must have shape ({n},), got {tuple(batch.shape)}")
    return batch.to(device=device, dtype=torch.int64)


def voxelize(
    points: Tensor,
    voxel_size: float,
    features: Tensor | None = None,
    batch: Tensor | None = None,
    batch_size: int | None = None,
    reduction: Literal["mean", "first"] = "mean",
) -> tuple[SparseTensor, Tensor]:
    """Quantise points into voxels of edge ``voxel_size`` metres and reduce their features.

    Voxel ``v = floor(p / voxel_size)`` (per axis, world origin at a voxel corner)
    covers ``[v, v + 1) * voxel_size`` metres.

    Args:
        points: ``(P, 3)`` float xyz in metres.
        voxel_size: voxel edge in metres (> 0).
        features: ``(P, C)`` float per-point features; ``None`` uses the xyz (metres), so
            a voxel's feature is its mean (or first) point position.
        batch: ``(P,)`` integer batch index of every point (default all 0).
        batch_size: number of batch elements (default ``max(batch) + 1``).
        reduction: ``"mean"`` averages the features of a voxel's points; ``"first"``
            keeps the feature of its lowest-index point.
    Returns:
        ``(x, inverse_map)``: ``x`` a stride-1 ``SparseTensor`` with ``V`` sites sorted by
        ``(b, x, y, z)`` and ``x.voxel_size == voxel_size``; ``inverse_map`` ``(P,)`` int64,
        the row of ``x`` holding each point (``x.features[inverse_map]`` is a nearest
        devoxelization).
    Raises:
        SparseCoordinateError: NaN/inf points or voxel indices out of range.
        TypeError / SparseTensorError: wrong dtypes or shapes.
    """
    _check_points(points, "points")
    if not voxel_size > 0:
        raise ValueError(f"voxel_size must be > 0 metres, got {voxel_size}")
    if reduction not in ("mean", "first"):
        raise ValueError(f"reduction must be 'mean' or 'first', got {reduction!r}")
    n = points.shape[0]
    if features is None:
        features = points
    elif not isinstance(features, Tensor) or not features.is_floating_point():
        raise TypeError("features must be a floating-point torch.Tensor of shape (P, C)")
    elif features.dim() != 2 or features.shape[0] != n:
        raise SparseTensorError(f"features must be ({n}, C), got {tuple(features.shape)}")
    b = _batch_index(batch, n, points.device)
    grid = torch.floor(points.double() / voxel_size).to(torch.int64)  # (P, 3)
    coords = torch.cat([b.unsqueeze(1), grid], dim=1)
    check_coordinate_bounds(coords, "voxel indices of points")
    keys, inverse = torch.unique(pack_keys(coords), return_inverse=True)  # sorted keys
    v = keys.numel()
    c = features.shape[1]
    if reduction == "mean":
        summed = features.new_zeros(v, c).index_add_(0, inverse, features)
        count = torch.bincount(inverse, minlength=v).to(features.dtype).clamp_(min=1)
        voxel_features = summed / count.unsqueeze(1)
    else:
        first = torch.full((v,), n, dtype=torch.int64, device=points.device)
        first.scatter_reduce_(0, inverse, torch.arange(n, device=points.device), "amin")
        voxel_features = features[first]
    x = SparseTensor(
        voxel_features,
        unpack_keys(keys),
        stride=1,
        batch_size=batch_size,
        voxel_size=float(voxel_size),
    )
    return x, inverse


def devoxelize(
    x: SparseTensor,
    points: Tensor,
    batch: Tensor | None = None,
    mode: Literal["nearest", "trilinear"] = "trilinear",
) -> Tensor:
    """Sample voxel features at points (metres), at any tensor stride.

    A site ``c`` of a stride-``s`` tensor is a cell ``[c, c + s) * voxel_size`` whose
    value sits at its centre.

    - ``"nearest"``: the feature of the cell containing the point (0 if that cell is
      not active).
    - ``"trilinear"``: trilinear interpolation between the 8 cell centres around the
      point, renormalised over the active ones:
      ``sum_j w_j f_j / sum_j w_j`` over active corners ``j`` (0 if none is active).
      On a dense grid this equals ``grid_sample(F) / grid_sample(occupancy)``
      (``align_corners=False``).

    Args:
        x: features ``(N, C)``; ``x.voxel_size`` must be set (``voxelize`` sets it).
        points: ``(P, 3)`` float xyz in metres.
        batch: ``(P,)`` integer batch index per point (default all 0).
        mode: ``"nearest"`` or ``"trilinear"``.
    Returns:
        ``(P, C)`` features, differentiable with respect to ``x.features``.
    """
    _check_points(points, "points")
    if x.voxel_size is None:
        raise SparseTensorError(
            "devoxelize needs x.voxel_size; build the tensor with voxelize() or voxel_size="
        )
    b = _batch_index(batch, points.shape[0], points.device)
    if x.num_points == 0:
        return x.features.new_zeros(points.shape[0], x.num_channels)
    s = x.stride
    u = points.double() / (x.voxel_size * s)  # position in cells
    feats = x.features
    if mode == "nearest":
        cell = torch.floor(u).to(torch.int64) * s
        coords = torch.cat([b.unsqueeze(1), cell], dim=1)
        check_coordinate_bounds(coords, "voxel indices of points")
        row = x.manager.lookup(s, coords)
        out = feats[row.clamp(min=0)]
        return out * (row >= 0).unsqueeze(1).to(feats.dtype)
    if mode != "trilinear":
        raise ValueError(f"mode must be 'nearest' or 'trilinear', got {mode!r}")
    u = u - 0.5  # cell centres at integers
    base = torch.floor(u)
    frac = (u - base).to(feats.dtype)  # (P, 3)
    base_coords = torch.cat([b.unsqueeze(1), base.to(torch.int64) * s], dim=1)
    check_coordinate_bounds(base_coords, "voxel indices of points")
    corners = torch.tensor(
        [[(j >> 2) & 1, (j >> 1) & 1, j & 1] for j in range(8)], device=points.device
    )  # (8, 3)
    # points share base cells: search the 8 corners of each distinct base cell once.
    # Packed keys are linear in each field, so corner keys are base key + corner delta.
    base_keys, inverse = torch.unique(pack_keys(base_coords), return_inverse=True)  # (U,)
    keys = base_keys.unsqueeze(1) + offset_deltas(corners * s).unsqueeze(0)  # (U, 8)
    rows = x.manager.lookup_keys(s, keys)[inverse]  # (P, 8), -1 = inactive
    w = torch.where(corners.bool().unsqueeze(0), frac.unsqueeze(1), 1 - frac.unsqueeze(1)).prod(dim=2)
    w = w * (rows >= 0).to(feats.dtype)  # (P, 8)
    den = w.sum(dim=1, keepdim=True)
    w = torch.where(den > 0, w / den.clamp(min=torch.finfo(feats.dtype).tiny), w)
    # one fused weighted gather-sum instead of 8 gathers of (P, C)
    return F.embedding_bag(rows.clamp(min=0), feats, per_sample_weights=w, mode="sum")
