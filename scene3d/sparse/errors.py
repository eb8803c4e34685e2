"""Typed errors of the sparse-convolution core."""

from __future__ import annotations

from scene3d.errors import Scene3DError


class SparseTensorError(Scene3DError, ValueError):
    """A SparseTensor (or a pair of them) is inconsistent: shapes, strides or managers."""


class SparseCoordinateError(SparseTensorError):
    """Coordinates are out of the packable range, duplicated, NaN, or missing at a stride."""
