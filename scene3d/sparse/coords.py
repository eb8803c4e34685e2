"""Coordinate hashing and kernel-map construction, without Python loops over points.

Coordinates are integer voxel indices ``(b, x, y, z)`` on the stride-1 grid; a tensor
of stride ``s`` only holds coordinates that are multiples of ``s`` (MinkowskiEngine's
convention), so every stride lives in the same index space and a transposed
convolution can reuse the map of the convolution that went down.

Each coordinate is packed into one int64 key::

    key = b << 51 | (x + 2**16) << 34 | (y + 2**16) << 17 | (z + 2**16)

(12 bits of batch, 17 bits per axis). Because the packing is linear in every field,
the key of a neighbour ``c + o`` is ``key(c) + delta(o)`` as long as no field leaves its
range, which the coordinate bounds below guarantee. A kernel map is found by sorting
the input keys once and ``torch.searchsorted``-ing shifted query keys, one search per
kernel column ``(dx, dy)`` (z neighbours are adjacent in sorted order); the only Python
loops are over kernel offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from scene3d.sparse import native
from scene3d.sparse.errors import SparseCoordinateError

AXIS_BITS = 17
"""Bits per spatial axis in a packed key."""
BATCH_BITS = 12
"""Bits of batch index in a packed key (63 bits in all, so keys stay positive)."""
_BIAS = 1 << (AXIS_BITS - 1)
MAX_OFFSET = 4096
"""Largest kernel offset, in stride-1 voxels, a map may query (``(k // 2) * dilation * stride``)."""
COORD_MIN = -_BIAS + MAX_OFFSET
"""Smallest allowed spatial coordinate (voxels): -61440, i.e. -1228.8 m at 2 cm voxels."""
COORD_MAX = _BIAS - MAX_OFFSET - 1
"""Largest allowed spatial coordinate (voxels): 61439."""
MAX_BATCH = (1 << BATCH_BITS) - 1
"""Largest allowed batch index (4095)."""



def pack_keys(coords: Tensor) -> Tensor:
    """Pack ``(N, 4)`` integer coordinates ``(b, x, y, z)`` into ``(N,)`` int64 keys.

    The caller guarantees the bounds (``check_coordinate_bounds``); keys sort by
    batch, then x, then y, then z.
    """
    c = coords.to(torch.int64)
    return (
        (c[:, 0] << (3 * AXIS_BITS))
        | ((c[:, 1] + _BIAS) << (2 * AXIS_BITS))
        | ((c[:, 2] + _BIAS) << AXIS_BITS)
        | (c[:, 3] + _BIAS)
    )


def offset_deltas(offsets: Tensor) -> Tensor:
    """Key increments ``(K,)`` int64 for spatial offsets ``(K, 3)`` (voxels)."""
    o = offsets.to(torch.int64)
    return (o[:, 0] << (2 * AXIS_BITS)) + (o[:, 1] << AXIS_BITS) + o[:, 2]


def check_coordinate_bounds(coords: Tensor, name: str = "coordinates") -> None:
    """Raise ``SparseCoordinateError`` if batch or spatial indices leave the packable range.

    Args:
        coords: ``(N, 4)`` integer ``(b, x, y, z)``.
        name: how the message names the tensor.
    """
    if coords.shape[0] == 0:
        return
    cmin = coords.amin(dim=0).tolist()
    cmax = coords.amax(dim=0).tolist()
    if cmin[0] < 0 or cmax[0] > MAX_BATCH:
        raise SparseCoordinateError(
            f"{name}: batch indices must lie in [0, {MAX_BATCH}], got [{cmin[0]}, {cmax[0]}]"
        )
    if min(cmin[1:]) < COORD_MIN or max(cmax[1:]) > COORD_MAX:
        raise SparseCoordinateError(
            f"{name}: spatial indices must lie in [{COORD_MIN}, {COORD_MAX}] voxels, got "
            f"min {cmin[1:]} max {cmax[1:]}; use a larger voxel size or recentre the points"
        )


def kernel_offsets(kernel_size: int, dilation: int, step: int, device: torch.device) -> Tensor:
    """Spatial offsets ``(K, 3)`` int64, ``K = kernel_size**3``, in stride-1 voxels.

    Offset ``k = (i * ks + j) * ks + l`` is ``((i, j, l) - (ks - 1) // 2) * dilation * step``:
    centred for odd kernels, ``{0, 1}`` for a size-2 kernel. This order is the order of
    the first axis of every convolution weight ``(K, C_in, C_out)``; it matches a dense
    ``conv3d`` weight ``(C_out, C_in, kx, ky, kz)`` on a grid indexed ``[b, c, x, y, z]``
    with ``padding = dilation * ((ks - 1) // 2)``.
    """
    r = torch.arange(kernel_size, device=device, dtype=torch.int64) - (kernel_size - 1) // 2
    grid = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), dim=-1).reshape(-1, 3)
    return grid * (dilation * step)


@dataclass(frozen=True)
class SortedKeys:
    """The keys of one coordinate set, sorted for ``searchsorted``.

    Attributes:
        keys: ``(N,)`` int64 sorted packed keys.
        perm: ``(N,)`` int64, ``keys[i] == pack_keys(coords)[perm[i]]``.
    """

    keys: Tensor
    perm: Tensor

    @staticmethod
    def build(coords: Tensor, name: str = "coordinates") -> "SortedKeys":
        """Sort the keys of ``(N, 4)`` coordinates; raise ``SparseCoordinateError`` on duplicates."""
        keys = pack_keys(coords)
        sorted_keys, perm = torch.sort(keys)
        if sorted_keys.numel() > 1:
            dup = sorted_keys[1:] == sorted_keys[:-1]
            if bool(dup.any()):
                first = int(perm[1:][dup][0])
                raise SparseCoordinateError(
                    f"{name}: duplicate coordinate {coords[first].tolist()} (row {first}); "
                    "coordinates of one SparseTensor must be unique - voxelize() merges duplicates"
                )
        return SortedKeys(sorted_keys, perm)

    def lookup(self, query: Tensor) -> Tensor:
        """Row index of each query key in the original coordinates, ``-1`` where absent.

        Args:
            query: int64 keys of any shape.
        Returns:
            int64 tensor of the same shape.
        """
        if self.keys.numel() == 0:
            return torch.full_like(query, -1)
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        found = self.keys[pos] == query
        return torch.where(found, self.perm[pos], torch.full_like(pos, -1))


@dataclass
class KernelMap:
    """Input/output row pairs of one sparse convolution, grouped by kernel offset.

    For offset ``k`` the pairs are ``in_idx[ptr[k]:ptr[k+1]]`` and
    ``out_idx[ptr[k]:ptr[k+1]]``: output row ``out_idx[m]`` receives
    ``features[in_idx[m]] @ weight[k]``. For a fixed ``k`` each input and each output
    row appears at most once.

    Attributes:
        in_idx: ``(M,)`` int64 input rows.
        out_idx: ``(M,)`` int64 output rows.
        ptr: ``K + 1`` Python ints, offsets into the pair arrays.
        n_in: number of input rows.
        n_out: number of output rows.
        identity_k: the offset whose pairs are ``(i, i)`` for every row (the centre
            of a submanifold map), or ``None``.
    """

    in_idx: Tensor
    out_idx: Tensor
    ptr: list[int]
    n_in: int
    n_out: int
    identity_k: int | None = None
    _tables: dict[str, Tensor] = field(default_factory=dict, repr=False)

    @property
    def kernel_volume(self) -> int:
        """Number of kernel offsets ``K``."""
        return len(self.ptr) - 1

    @property
    def num_pairs(self) -> int:
        """Number of (input, output) pairs ``M``."""
        return int(self.in_idx.numel())

    def transposed(self) -> "KernelMap":
        """The same pairs with inputs and outputs swapped (for a transposed convolution)."""
        return KernelMap(
            in_idx=self.out_idx,
            out_idx=self.in_idx,
            ptr=self.ptr,
            n_in=self.n_out,
            n_out=self.n_in,
            identity_k=self.identity_k,
        )

    def neighbor_table(self, side: str, dtype: torch.dtype = torch.int64) -> Tensor:
        """Dense neighbour table, built once per dtype and cached.

        Args:
            side: ``"out"`` gives ``(n_out, K)`` input rows per output row;
                ``"in"`` gives ``(n_in, K)`` output rows per input row. ``-1`` = none.
            dtype: ``torch.int64`` (for indexing in PyTorch) or ``torch.int32`` (the native
                kernels' table, built by them when they are built: :mod:`scene3d.sparse.native`).
        """
        if side not in ("in", "out"):
            raise ValueError(f"side must be 'in' or 'out', got {side!r}")
        if dtype not in (torch.int64, torch.int32):
            raise ValueError(f"dtype must be torch.int64 or torch.int32, got {dtype}")
        key = f"{side}_{dtype}"
        table = self._tables.get(key)
        if table is None:
            rows, vals, n = (
                (self.out_idx, self.in_idx, self.n_out)
                if side == "out"
                else (self.in_idx, self.out_idx, self.n_in)
            )
            if dtype == torch.int32 and rows.device.type == "cpu" and native.library() is not None:
                table = native.fill_table(rows, vals, self.ptr, n)
            else:
                k_of_pair = torch.repeat_interleave(
                    torch.arange(self.kernel_volume, device=rows.device),
                    torch.tensor(
                        [b - a for a, b in zip(self.ptr[:-1], self.ptr[1:])], device=rows.device
                    ),
                )
                table = torch.full((n, self.kernel_volume), -1, dtype=dtype, device=rows.device)
                table[rows, k_of_pair] = vals.to(dtype)
            self._tables[key] = table
        return table


def _search_by_column(in_sorted: SortedKeys, out_keys: Tensor, offsets: Tensor, z_step: int) -> list[Tensor]:
    """Input row of ``out + offset_k`` for every output and offset, ``-1`` where absent.

    Keys of one ``(b, x, y)`` column are contiguous and sorted by z, so one
    ``searchsorted`` per column ``(dx, dy)`` of the kernel finds the lowest candidate and
    the next ``span`` sorted keys are compared with every z offset of that column
    (3 searches instead of 13 for the half 3x3x3 kernel of a submanifold map).

    Args:
        in_sorted: sorted keys of the inputs.
        out_keys: ``(n_out,)`` packed keys of the outputs.
        offsets: ``(k, 3)`` int64 offsets (voxels).
        z_step: spacing of the inputs' lattice (their tensor stride).
    Returns:
        ``k`` tensors ``(n_out,)`` int64.
    """
    n_in = in_sorted.keys.numel()
    hits = [torch.full_like(out_keys, -1) for _ in range(offsets.shape[0])]
    if n_in == 0 or out_keys.numel() == 0:
        return hits
    columns: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k, (dx, dy, dz) in enumerate(offsets.tolist()):
        columns.setdefault((dx, dy), []).append((k, dz))
    deltas = offset_deltas(offsets)
    for (dx, dy), members in columns.items():
        z_lo = min(dz for _, dz in members)
        z_hi = max(dz for _, dz in members)
        start = torch.searchsorted(in_sorted.keys, out_keys + offset_deltas(offsets.new_tensor([[dx, dy, z_lo]])))
        queries = [(k, out_keys + deltas[k]) for k, _ in members]
        for m in range((z_hi - z_lo) // z_step + 1):
            pos = (start + m).clamp_(max=n_in - 1)
            cand = in_sorted.keys[pos]
            row = in_sorted.perm[pos]
            for k, q in queries:
                hits[k] = torch.where(cand == q, row, hits[k])
    return hits


_DENSE_CELLS_PER_SITE = 32
"""The dense-table search runs when its table has at most this many cells per input site."""
_DENSE_MAX_CELLS = 1 << 25
"""... and at most this many cells (128 MB of int32) in all."""


def _decode(keys: Tensor) -> Tensor:
    """``(N, 4)`` int64 ``(b, x, y, z)`` of packed keys, spatial axes biased (all >= 0)."""
    mask = (1 << AXIS_BITS) - 1
    return torch.stack([keys >> (3 * AXIS_BITS), (keys >> (2 * AXIS_BITS)) & mask, (keys >> AXIS_BITS) & mask,
                        keys & mask], dim=1)


def _search_dense(in_sorted: SortedKeys, out_keys: Tensor, offsets: Tensor, step: int) -> list[Tensor] | None:
    """What :func:`_search_by_column` returns, from a dense table of input rows over the box of
    the inputs and the queried sites on the lattice of spacing ``step`` (the inputs' stride): one
    gather per offset. None (use the column search) when there is nothing to search or the table
    would exceed ``_DENSE_CELLS_PER_SITE`` cells per input site or ``_DENSE_MAX_CELLS``.
    """
    n_in = in_sorted.keys.numel()
    if n_in == 0 or out_keys.numel() == 0 or offsets.shape[0] == 0:
        return None
    c_in, c_out = _decode(in_sorted.keys), _decode(out_keys)
    lo = torch.minimum(c_in.amin(0), c_out.amin(0) + torch.cat([offsets.new_zeros(1), offsets.amin(0)]))
    hi = torch.maximum(c_in.amax(0), c_out.amax(0) + torch.cat([offsets.new_zeros(1), offsets.amax(0)]))
    lattice = torch.tensor([1, step, step, step], device=lo.device)
    lo = torch.div(lo, lattice, rounding_mode="floor") * lattice  # a lattice point: every site is lo + i * step
    size = (torch.div(hi - lo, lattice, rounding_mode="floor") + 1).tolist()
    cells = size[0] * size[1] * size[2] * size[3]
    if cells > min(_DENSE_CELLS_PER_SITE * n_in, _DENSE_MAX_CELLS):
        return None
    scale = torch.tensor([size[1] * size[2] * size[3], size[2] * size[3], size[3], 1], device=lo.device)

    def cell(c: Tensor) -> Tensor:
        return (torch.div(c - lo, lattice, rounding_mode="floor") * scale).sum(dim=1)

    table = torch.full((cells,), -1, dtype=torch.int32, device=lo.device)
    table[cell(c_in)] = in_sorted.perm.to(torch.int32)
    base = cell(c_out)
    shifts = (torch.div(offsets, step, rounding_mode="floor") * scale[1:]).sum(dim=1).tolist()
    return [table.index_select(0, base + s).to(torch.int64) for s in shifts]


def build_kernel_map(
    in_sorted: SortedKeys,
    out_coords: Tensor,
    n_in: int,
    kernel_size: int,
    dilation: int,
    in_stride: int,
    submanifold: bool,
) -> KernelMap:
    """Find, for every output site and kernel offset, the input site it reads.

    Output site ``p`` reads input ``p + offset_k`` (offsets from ``kernel_offsets`` with
    ``step = in_stride``), which is a cross-correlation like ``torch.nn.functional.conv3d``.

    Args:
        in_sorted: sorted keys of the ``n_in`` input coordinates.
        out_coords: ``(n_out, 4)`` int32 output coordinates.
        n_in: number of input rows.
        kernel_size: kernel edge length (voxels of the input stride).
        dilation: kernel dilation.
        in_stride: tensor stride of the input.
        submanifold: inputs and outputs are the same set (marks the centre as identity).
    Returns:
        the ``KernelMap``.
    """
    device = out_coords.device
    offsets = kernel_offsets(kernel_size, dilation, in_stride, device)
    max_off = int(offsets.abs().max()) if offsets.numel() else 0
    if max_off > MAX_OFFSET:
        raise SparseCoordinateError(
            f"kernel offset {max_off} voxels (kernel_size={kernel_size}, dilation={dilation}, "
            f"stride={in_stride}) exceeds the supported {MAX_OFFSET}"
        )
    n_out = out_coords.shape[0]
    kvol = offsets.shape[0]
    symmetric = submanifold and kernel_size % 2 == 1
    # a submanifold map is symmetric: offset K-1-k is -offset_k, whose pairs are those of k
    # swapped, and the centre pairs every row with itself; only offsets k < K // 2 are searched
    n_query = kvol // 2 if symmetric else kvol
    out_keys = pack_keys(out_coords)
    in_parts: list[Tensor] = []
    out_parts: list[Tensor] = []
    hits = _search_dense(in_sorted, out_keys, offsets[:n_query], in_stride)
    if hits is None:
        hits = _search_by_column(in_sorted, out_keys, offsets[:n_query], in_stride)
    for hit in hits:
        o_idx = (hit >= 0).nonzero().squeeze(1)
        in_parts.append(hit[o_idx])
        out_parts.append(o_idx)
    counts = [int(t.numel()) for t in out_parts]
    identity_k = None
    if symmetric:
        identity_k = kvol // 2
        rows = torch.arange(n_out, device=device)
        in_parts, out_parts = (
            in_parts + [rows] + out_parts[::-1],
            out_parts + [rows] + in_parts[::-1],
        )
        counts = counts + [n_out] + counts[::-1]
    ptr = [0]
    for c in counts:
        ptr.append(ptr[-1] + c)
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return KernelMap(
        in_idx=torch.cat(in_parts) if in_parts else empty,
        out_idx=torch.cat(out_parts) if out_parts else empty,
        ptr=ptr,
        n_in=n_in,
        n_out=n_out,
        identity_k=identity_k,
    )


def downsample_coords(coords: Tensor, out_stride: int) -> Tensor:
    """Coordinates of a stride-``out_stride`` tensor covering ``coords``.

    Each input site maps to ``floor(x / out_stride) * out_stride`` per axis (batch
    kept); duplicates are removed. The result is sorted by packed key.

    Args:
        coords: ``(N, 4)`` int32.
        out_stride: the new tensor stride (voxels).
    Returns:
        ``(M, 4)`` int32, ``M <= N``.
    """
    down = coords.clone()
    down[:, 1:] = torch.div(coords[:, 1:], out_stride, rounding_mode="floor") * out_stride
    keys = torch.unique(pack_keys(down))  # sorted
    return unpack_keys(keys)


def unpack_keys(keys: Tensor) -> Tensor:
    """Inverse of ``pack_keys``: ``(N,)`` int64 keys to ``(N, 4)`` int32 coordinates."""
    mask = (1 << AXIS_BITS) - 1
    b = keys >> (3 * AXIS_BITS)
    x = ((keys >> (2 * AXIS_BITS)) & mask) - _BIAS
    y = ((keys >> AXIS_BITS) & mask) - _BIAS
    z = (keys & mask) - _BIAS
    return torch.stack([b, x, y, z], dim=1).to(torch.int32)
