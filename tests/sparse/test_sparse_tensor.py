"""SparseTensor construction checks and the CoordinateManager's kernel-map cache."""

from __future__ import annotations

import pytest
import torch

from scene3d.sparse import (
    CoordinateManager,
    SparseConv3d,
    SparseConvTranspose3d,
    SparseCoordinateError,
    SparseTensor,
    SparseTensorError,
    SubMConv3d,
    sparse_cat,
)
from scene3d.sparse.coords import COORD_MAX, pack_keys, unpack_keys

from .dense_reference import random_coords


def _coords(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int32)


def test_valid_tensor_properties() -> None:
    x = SparseTensor(torch.zeros(2, 3), _coords([[0, 1, 2, 3], [1, -4, 0, 5]]), voxel_size=0.02)
    assert (x.num_points, x.num_channels, x.batch_size, x.stride, x.voxel_size) == (2, 3, 2, 1, 0.02)
    assert "N=2" in repr(x)


@pytest.mark.parametrize(
    "features,coords,error,match",
    [
        ([[0.0]], _coords([[0, 0, 0, 0]]), TypeError, "torch.Tensor"),
        (torch.zeros(1, 2, dtype=torch.int64), _coords([[0, 0, 0, 0]]), TypeError, "floating point"),
        (torch.zeros(1, 2), torch.zeros(1, 4, dtype=torch.int64), TypeError, "int32"),
        (torch.zeros(2), _coords([[0, 0, 0, 0], [0, 0, 0, 1]]), SparseTensorError, r"\(N, C\)"),
        (torch.zeros(1, 2), torch.zeros(1, 3, dtype=torch.int32), SparseTensorError, r"\(N, 4\)"),
        (torch.zeros(3, 2), _coords([[0, 0, 0, 0]]), SparseTensorError, "3 rows"),
        (torch.zeros(2, 2), _coords([[0, 1, 1, 1], [0, 1, 1, 1]]), SparseCoordinateError, "duplicate"),
        (torch.zeros(1, 2), _coords([[-1, 0, 0, 0]]), SparseCoordinateError, "batch"),
        (torch.zeros(1, 2), _coords([[0, COORD_MAX + 1, 0, 0]]), SparseCoordinateError, "spatial"),
    ],
)
def test_construction_errors(features, coords, error, match) -> None:
    with pytest.raises(error, match=match):
        SparseTensor(features, coords)


def test_stride_checks() -> None:
    with pytest.raises(SparseCoordinateError, match="multiples of 2"):
        SparseTensor(torch.zeros(1, 1), _coords([[0, 1, 0, 0]]), stride=2)
    with pytest.raises(SparseTensorError, match="stride"):
        SparseTensor(torch.zeros(1, 1), _coords([[0, 0, 0, 0]]), stride=0)
    with pytest.raises(SparseCoordinateError, match="batch_size"):
        SparseTensor(torch.zeros(1, 1), _coords([[3, 0, 0, 0]]), batch_size=2)


def test_errors_are_value_errors() -> None:
    assert issubclass(SparseCoordinateError, ValueError) and issubclass(SparseTensorError, ValueError)


def test_pack_unpack_roundtrip_and_order() -> None:
    gen = torch.Generator().manual_seed(0)
    c = torch.cat([torch.randint(0, 4095, (500, 1), generator=gen),
                   torch.randint(-61440, 61439, (500, 3), generator=gen)], 1).to(torch.int32)
    keys = pack_keys(c)
    assert torch.equal(unpack_keys(keys), c)
    lex = sorted(c.tolist())
    assert unpack_keys(torch.sort(keys).values).tolist() == lex


def test_unet_like_pass_builds_each_map_once() -> None:
    gen = torch.Generator().manual_seed(1)
    x = SparseTensor(torch.randn(400, 4, generator=gen), random_coords(gen, [250, 150], 16))
    sub1, sub1b = SubMConv3d(4, 4), SubMConv3d(4, 4)
    down, sub2 = SparseConv3d(4, 4), SubMConv3d(4, 4)
    up = SparseConvTranspose3d(4, 4)
    h1 = sub1b(sub1(x))
    h2 = sub2(down(h1))
    y = up(h2)
    assert y.coords is x.coords
    # maps: subm@1, down 1->2, subm@2; the transposed map is the cached down map swapped
    assert x.manager.map_builds == 3
    sub1(y)
    assert x.manager.map_builds == 3
    assert sparse_cat([y, h1]).num_channels == 8


def test_sparse_cat_rejects_different_sites() -> None:
    gen = torch.Generator().manual_seed(2)
    x = SparseTensor(torch.randn(50, 2, generator=gen), random_coords(gen, [50], 8))
    y = SparseConv3d(2, 2)(x)
    with pytest.raises(SparseTensorError, match="same network input and stride"):
        sparse_cat([x, y])


def test_transposed_to_unknown_stride_raises() -> None:
    x = SparseTensor(torch.zeros(1, 2), _coords([[0, 0, 0, 0]]), stride=2)
    with pytest.raises(SparseCoordinateError, match="no coordinates at tensor stride 1"):
        SparseConvTranspose3d(2, 2)(x)


def test_manager_rejects_a_different_set_at_a_known_stride() -> None:
    m = CoordinateManager(batch_size=1)
    SparseTensor(torch.zeros(1, 2), _coords([[0, 0, 0, 0]]), manager=m)
    SparseTensor(torch.ones(1, 2), _coords([[0, 0, 0, 0]]), manager=m)  # same set: fine
    with pytest.raises(SparseCoordinateError, match="different coordinate set"):
        SparseTensor(torch.zeros(1, 2), _coords([[0, 1, 0, 0]]), manager=m)


def test_replace_features_checks_rows() -> None:
    x = SparseTensor(torch.zeros(2, 2), _coords([[0, 0, 0, 0], [0, 0, 0, 1]]))
    with pytest.raises(SparseTensorError, match=r"\(2, C\)"):
        x.replace_features(torch.zeros(3, 2))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    gen = torch.Generator().manual_seed(3)
    coords = random_coords(gen, [300, 200], 12)
    feats = torch.randn(coords.shape[0], 8, generator=gen)
    x = SparseTensor(feats, coords)
    net = torch.nn.Sequential(SubMConv3d(8, 16), SparseConv3d(16, 16, 3), SparseConvTranspose3d(16, 4, 3))
    ref = net(x).features
    xc = x.to("cuda")
    out = net.to("cuda")(xc).features
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-4)
    out.sum().backward()
