"""Kernel maps equal a brute-force pair enumeration on arbitrary coordinate sets (hypothesis)."""

from __future__ import annotations

from unittest.mock import patch

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import scene3d.sparse.coords as coords_module
from scene3d.sparse.coords import COORD_MAX, COORD_MIN, MAX_BATCH, kernel_offsets, pack_keys, unpack_keys
from scene3d.sparse.tensor import CoordinateManager


def _brute_force(in_coords: torch.Tensor, out_coords: torch.Tensor, offsets: torch.Tensor) -> set[tuple[int, int, int]]:
    index = {tuple(c): i for i, c in enumerate(in_coords.tolist())}
    pairs = set()
    for o, (b, x, y, z) in enumerate(out_coords.tolist()):
        for k, (dx, dy, dz) in enumerate(offsets.tolist()):
            i = index.get((b, x + dx, y + dy, z + dz))
            if i is not None:
                pairs.add((k, i, o))
    return pairs


def _pairs(kmap) -> set[tuple[int, int, int]]:
    out = set()
    for k in range(kmap.kernel_volume):
        a, b = kmap.ptr[k], kmap.ptr[k + 1]
        out |= {(k, i, o) for i, o in zip(kmap.in_idx[a:b].tolist(), kmap.out_idx[a:b].tolist())}
    return out


coordinate_sets = st.lists(
    st.tuples(st.integers(0, 2), st.integers(-6, 6), st.integers(-6, 6), st.integers(-6, 6)),
    min_size=0, max_size=60, unique=True,
)


@settings(max_examples=60, deadline=None)
@given(coords=coordinate_sets, kernel_size=st.sampled_from([1, 2, 3, 5]), dilation=st.integers(1, 2),
       stride=st.sampled_from([1, 2, 3]), dense=st.booleans())
def test_kernel_map_equals_brute_force(coords, kernel_size: int, dilation: int, stride: int, dense: bool) -> None:
    """Both searches: the dense table (allowed any size) and the column search (table refused)."""
    with patch.object(coords_module, "_DENSE_CELLS_PER_SITE", 10**9 if dense else 0):
        _check_kernel_map(coords, kernel_size, dilation, stride)


def _check_kernel_map(coords, kernel_size: int, dilation: int, stride: int) -> None:
    if stride == 1 and kernel_size % 2 == 0:
        kernel_size += 1  # submanifold maps use odd kernels
    c = torch.tensor(coords, dtype=torch.int32).reshape(-1, 4)
    manager = CoordinateManager(batch_size=3)
    manager.register(1, c)
    kmap = manager.kernel_map(1, stride, kernel_size, dilation)
    out_coords = manager.coords(stride)
    assert _pairs(kmap) == _brute_force(c, out_coords, kernel_offsets(kernel_size, dilation, 1, c.device))
    assert kmap.n_in == c.shape[0] and kmap.n_out == out_coords.shape[0]
    if stride == 2:
        transposed = manager.kernel_map(2, 1, kernel_size, dilation)
        assert _pairs(transposed) == {(k, o, i) for k, i, o in _pairs(kmap)}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, MAX_BATCH), st.integers(COORD_MIN, COORD_MAX),
                          st.integers(COORD_MIN, COORD_MAX), st.integers(COORD_MIN, COORD_MAX)),
                min_size=1, max_size=20))
def test_pack_unpack_roundtrip_at_the_range_limits(coords) -> None:
    c = torch.tensor(coords, dtype=torch.int32)
    keys = pack_keys(c)
    assert bool((keys >= 0).all())
    assert torch.equal(unpack_keys(keys), c)
