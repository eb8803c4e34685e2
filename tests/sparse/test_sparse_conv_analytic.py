"""Closed-form cases and float64 ``gradcheck`` of the sparse convolutions."""

from __future__ import annotations

import pytest
import torch

from scene3d.sparse import (
    CONV_ALGORITHMS,
    SparseConv3d,
    SparseConvTranspose3d,
    SparseTensor,
    SubMConv3d,
    sparse_conv,
)

from .dense_reference import CONV_PATHS, conv_path, random_coords, sparse_input


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_identity_kernel_returns_input(path: str, kernel_size: int, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(0)
    x = sparse_input(gen, [80, 30], 6, 5, torch.float32)
    conv = SubMConv3d(5, 5, kernel_size, algorithm=algorithm)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[kernel_size**3 // 2] = torch.eye(5)
    torch.testing.assert_close(conv(x).features, x.features, rtol=0, atol=0)


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("dilation", [1, 2])
def test_all_ones_kernel_counts_neighbours(path: str, dilation: int, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(1)
    coords = random_coords(gen, [60, 90], 7)
    x = SparseTensor(torch.ones(coords.shape[0], 1), coords)
    conv = SubMConv3d(1, 1, 3, dilation=dilation, algorithm=algorithm)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    # brute force: same batch, every axis offset in {-d, 0, d}
    diff = coords[:, None, 1:] - coords[None, :, 1:]  # (N, N, 3)
    on_lattice = ((diff == 0) | (diff.abs() == dilation)).all(dim=2)
    same_batch = coords[:, None, 0] == coords[None, :, 0]
    expected = (on_lattice & same_batch).sum(dim=1).float().unsqueeze(1)
    torch.testing.assert_close(conv(x).features, expected, rtol=0, atol=0)


def test_strided_all_ones_kernel_2_counts_children() -> None:
    gen = torch.Generator().manual_seed(2)
    coords = random_coords(gen, [100], 8)
    x = SparseTensor(torch.ones(coords.shape[0], 1), coords)
    conv = SparseConv3d(1, 1, kernel_size=2, stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    y = conv(x)
    parent = torch.cat([coords[:, :1], coords[:, 1:] // 2 * 2], 1)
    expected = ((y.coords[:, None, :] == parent[None, :, :]).all(2)).sum(1).float().unsqueeze(1)
    torch.testing.assert_close(y.features, expected, rtol=0, atol=0)
    assert float(y.features.detach().sum()) == coords.shape[0]  # every child in exactly one parent


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize(
    "make",
    [
        lambda a: SubMConv3d(2, 3, 3, algorithm=a),
        lambda a: SubMConv3d(2, 3, 3, dilation=2, algorithm=a),
        lambda a: SparseConv3d(2, 3, 3, stride=2, algorithm=a),
        lambda a: SparseConv3d(2, 3, 2, stride=2, algorithm=a),
    ],
    ids=["subm3", "subm3_dil2", "down3", "down2"],
)
def test_gradcheck_conv(path: str, make, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(3)
    x = sparse_input(gen, [15, 10], 4, 2, torch.float64)
    conv = make(algorithm).to(torch.float64)
    kmap = x.manager.kernel_map(1, conv.stride, conv.kernel_size, conv.dilation)
    weight = conv.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, w: sparse_conv(f, w, kmap, algorithm), (x.features, weight))


@pytest.mark.parametrize("path", CONV_PATHS)
def test_gradcheck_transposed(path: str, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(4)
    x = sparse_input(gen, [15, 10], 4, 2, torch.float64)
    coarse = SparseConv3d(2, 2, 2, stride=2).to(torch.float64)(x)
    up = SparseConvTranspose3d(2, 3, 2, stride=2, algorithm=algorithm).to(torch.float64)
    kmap = x.manager.kernel_map(2, 1, 2, 1)
    feats = torch.randn(coarse.num_points, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = up.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, w: sparse_conv(f, w, kmap, algorithm), (feats, weight))


def test_algorithms_agree_on_float32_scan_sized_input() -> None:
    gen = torch.Generator().manual_seed(5)
    x = sparse_input(gen, [3000], 24, 8, torch.float32)
    kmap = x.manager.kernel_map(1, 1, 3, 1)
    weight = torch.randn(27, 8, 16, generator=gen)
    outs = [sparse_conv(x.features, weight, kmap, a) for a in CONV_ALGORITHMS]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-5, atol=1e-5)


def test_wrong_weight_shape_and_dtype_raise() -> None:
    gen = torch.Generator().manual_seed(6)
    x = sparse_input(gen, [10], 4, 2, torch.float32)
    kmap = x.manager.kernel_map(1, 1, 3, 1)
    with pytest.raises(ValueError, match="does not fit"):
        sparse_conv(x.features, torch.zeros(27, 3, 4), kmap)
    with pytest.raises(TypeError, match="float64"):
        sparse_conv(x.features, torch.zeros(27, 2, 4, dtype=torch.float64), kmap)
    with pytest.raises(ValueError, match="channels"):
        SubMConv3d(3, 4)(x)
