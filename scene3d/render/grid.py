"""A sparse voxel grid: a set of occupied voxels with a sorted-key hash lookup.

Voxel ``c = (i, j, k)`` (integers) covers the world box
``[origin + c * voxel_size, origin + (c + 1) * voxel_size)``; its centre is
``origin + (c + 0.5) * voxel_size``. A point ``p`` lies in voxel ``floor((p - origin) / voxel_size)``.

The grid takes a plain occupied-voxel set, so the coordinates of a ``SparseTensor``
(``coords[:, 1:]`` of its int32 ``(N, 4)`` batch-first ``(b, x, y, z)`` indices, one batch
item at a time) plug straight in, with the voxel size and origin used to voxelize it.

Lookup packs each coordinate into one int64 key (21 bits per axis), sorts the keys once, and
answers queries with ``torch.searchsorted``: no Python loop over points, identical code on CPU
and CUDA. Occupied coordinates must lie in ``[COORD_MIN, COORD_MAX] = [-2**20 + 1, 2**20 - 2]``
so that every voxel that can neighbour an occupied one (+-1) is packable too.
"""

from __future__ import annotations

import torch
from torch import nn

from scene3d.render.errors import RenderInputError, check_finite, check_shape

__all__ = ["SparseVoxelGrid", "pack_coords", "COORD_MIN", "COORD_MAX"]

_BITS = 21
_PACK_MIN = -(1 << (_BITS - 1))  # smallest packable coordinate
_PACK_MAX = (1 << (_BITS - 1)) - 1  # largest packable coordinate
COORD_MIN = _PACK_MIN + 1
"""Smallest voxel coordinate a grid can hold (per axis)."""
COORD_MAX = _PACK_MAX - 1
"""Largest voxel coordinate a grid can hold (per axis)."""


def pack_coords(coords: torch.Tensor) -> torch.Tensor:
    """Pack integer voxel coordinates into int64 keys that sort like ``(x, y, z)`` tuples.

    ``pack_coords(c + e) == pack_coords(c) + pack_coords(e) - pack_coords(0)`` whenever both
    ``c`` and ``c + e`` are packable, which lets callers offset keys instead of coordinates.

    Args:
        coords: (..., 3) integer voxel coordinates in ``[-2**20, 2**20 - 1]``.

    Returns:
        (...,) int64 keys; distinct packable coordinates give distinct keys. Unpackable
        coordinates are not checked here (callers mask them).
    """
    c = coords.long() - _PACK_MIN  # (..., 3) in [0, 2**21)
    return (c[..., 0] << (2 * _BITS)) | (c[..., 1] << _BITS) | c[..., 2]


class SparseVoxelGrid(nn.Module):
    """An occupied-voxel set with O(log M) vectorised lookup.

    Holds buffers only (no parameters) so it moves with ``.to(device)`` and is saved in
    ``state_dict``.

    Args:
        coords: (M, 3) integer voxel coordinates of the occupied voxels, unique, each in
            ``[COORD_MIN, COORD_MAX]``. Order is kept: voxel ``m`` of the grid is ``coords[m]``.
        voxel_size: edge length of a voxel in metres (> 0).
        origin: (3,) world position of the corner of voxel (0, 0, 0), metres. Default zeros.

    Raises:
        RenderInputError: on a wrong shape or dtype, duplicates, out-of-range coordinates,
            a non-positive voxel size or a non-finite origin.
    """

    coords: torch.Tensor
    origin: torch.Tensor
    sorted_keys: torch.Tensor
    sorted_to_voxel: torch.Tensor
    box: torch.Tensor

    def __init__(self, coords: torch.Tensor, voxel_size: float, origin: torch.Tensor | None = None) -> None:
        super().__init__()
        check_shape("coords", coords, (None, 3))
        if coords.is_floating_point() or coords.dtype == torch.bool:
            raise RenderInputError(f"coords: expected an integer dtype, got {coords.dtype}")
        if coords.shape[0] == 0:
            raise RenderInputError("coords: the grid needs at least one occupied voxel")
        if int(coords.min()) < COORD_MIN or int(coords.max()) > COORD_MAX:
            raise RenderInputError(
                f"coords: values must lie in [{COORD_MIN}, {COORD_MAX}]; shift them and move the origin"
            )
        if not float(voxel_size) > 0:
            raise RenderInputError(f"voxel_size: must be > 0 metres, got {voxel_size}")
        if origin is None:
            origin = torch.zeros(3, device=coords.device)
        check_shape("origin", origin, (3,))
        check_finite("origin", origin)
        keys = pack_coords(coords)  # (M,)
        sorted_keys, order = torch.sort(keys)
        if sorted_keys.numel() > 1 and bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
            raise RenderInputError("coords: duplicate voxels; deduplicate with torch.unique(coords, dim=0)")
        self.voxel_size = float(voxel_size)
        self.register_buffer("coords", coords.long())
        self.register_buffer("origin", origin.to(device=coords.device, dtype=torch.float32))
        self.register_buffer("sorted_keys", sorted_keys)
        self.register_buffer("sorted_to_voxel", order)
        lo = coords.min(dim=0).values.float() * self.voxel_size + self.origin
        hi = (coords.max(dim=0).values + 1).float() * self.voxel_size + self.origin
        self.register_buffer("box", torch.stack([lo, hi]))

    @property
    def num_voxels(self) -> int:
        """M, the number of occupied voxels."""
        return self.coords.shape[0]

    def aabb(self) -> torch.Tensor:
        """(2, 3) world-space box ``[min corner, max corner]`` enclosing all occupied voxels, metres."""
        return self.box

    def lookup(self, query: torch.Tensor) -> torch.Tensor:
        """Index of each queried voxel in the grid, or -1 when it is not occupied.

        Args:
            query: (..., 3) integer voxel coordinates (any range; unpackable ones give -1).

        Returns:
            (...,) int64 voxel indices into ``coords`` (and the rows of per-voxel features), -1 if absent.
        """
        packable = ((query >= _PACK_MIN) & (query <= _PACK_MAX)).all(dim=-1)  # (...,)
        keys = pack_coords(query.clamp(_PACK_MIN, _PACK_MAX))  # (...,)
        return torch.where(packable, self.lookup_keys(keys), torch.full_like(keys, -1))

    def lookup_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Like :meth:`lookup` for keys already packed with :func:`pack_coords`: (...,) int64 -> (...,) int64."""
        pos = torch.searchsorted(self.sorted_keys, keys.reshape(-1)).reshape(keys.shape)
        pos = pos.clamp_max(self.sorted_keys.numel() - 1)
        found = self.sorted_keys[pos] == keys
        return torch.where(found, self.sorted_to_voxel[pos], torch.full_like(pos, -1))

    def neighbour_lookup(self, base: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Indices of the voxels ``base + offsets`` for every base, with one packing per base.

        Args:
            base: (P, 3) int64 voxel coordinates (any range).
            offsets: (K, 3) int64 offsets with entries in {0, 1}.

        Returns:
            (P, K) int64 voxel indices, -1 where not occupied.
        """
        ok = ((base >= _PACK_MIN) & (base < _PACK_MAX)).all(dim=-1)  # (P,) base and base + 1 packable
        base_keys = pack_coords(base.clamp(_PACK_MIN, _PACK_MAX - 1))  # (P,)
        offset_keys = pack_coords(offsets) - pack_coords(torch.zeros_like(offsets[:1]))  # (K,)
        idx = self.lookup_keys(base_keys[:, None] + offset_keys[None, :])  # (P, K)
        # if base is unpackable, no corner can be occupied: occupied coords are >= PACK_MIN + 1, <= PACK_MAX - 1
        return torch.where(ok[:, None], idx, torch.full_like(idx, -1))

    def world_to_voxel(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) continuous voxel coordinates ``(p - origin) / voxel_size`` of world points (..., 3).

        Voxel ``c`` spans ``[c, c + 1)`` per axis in these units; its centre is at ``c + 0.5``.
        The result is clamped to a little beyond the packable range so far-away points cannot
        overflow integer conversion (they are then simply not occupied).
        """
        u = (points - self.origin.to(points.dtype)) / self.voxel_size
        return u.clamp(_PACK_MIN - 2, _PACK_MAX + 2)

    def voxel_of(self, points: torch.Tensor) -> torch.Tensor:
        """Index of the occupied voxel containing each world point (..., 3), or -1; shape (...,) int64."""
        return self.lookup(torch.floor(self.world_to_voxel(points)).long())
