"""Sparse convolutions equal dense ``conv3d`` / ``conv_transpose3d`` at the active sites.

Outputs, input gradients and weight gradients, for every algorithm, kernel sizes 1/3/5,
strides 1/2, dilation 2, several batch sizes and empty batch elements. float64 with
``rtol = atol = 1e-10``: both sides sum the same products in a different order.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scene3d.sparse import (
    SparseConv3d,
    SparseConvTranspose3d,
    SparseTensor,
    SubMConv3d,
    native,
    weight_to_dense,
)

from .dense_reference import CONV_PATHS, conv_path, dense_conv_transpose, gather_dense, sparse_input, to_dense

TOL = dict(rtol=1e-10, atol=1e-10)
GRID = 8
DT = torch.float64

BATCHES = {"one": [70], "three_with_empty": [50, 0, 90], "two": [120, 40]}


def _grads(out: torch.Tensor, probe: torch.Tensor, *leaves: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad((out * probe).sum(), leaves)


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("kernel_size,dilation", [(1, 1), (3, 1), (5, 1), (3, 2)])
@pytest.mark.parametrize("batches", list(BATCHES))
def test_submconv_equals_dense(path: str, kernel_size: int, dilation: int, batches: str, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(kernel_size * 10 + dilation)
    counts = BATCHES[batches]
    x = sparse_input(gen, counts, GRID, 3, DT)
    conv = SubMConv3d(3, 4, kernel_size, dilation=dilation, bias=True, algorithm=algorithm).to(DT)
    y = conv(x)
    assert y.coords is x.coords and y.stride == 1

    wd = weight_to_dense(conv.weight, kernel_size)
    dense = F.conv3d(to_dense(x.features, x.coords, 1, len(counts), GRID), wd, conv.bias,
                     padding=dilation * (kernel_size // 2), dilation=dilation)
    ref = gather_dense(dense, x.coords, 1)
    torch.testing.assert_close(y.features, ref, **TOL)

    probe = torch.randn(ref.shape, generator=gen, dtype=DT)
    g_sparse = _grads(y.features, probe, x.features, conv.weight, conv.bias)
    g_dense = _grads(ref, probe, x.features, conv.weight, conv.bias)
    for a, b in zip(g_sparse, g_dense):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("kernel_size,stride,dilation", [(2, 2, 1), (3, 2, 1), (1, 2, 1), (5, 2, 1), (3, 2, 2), (3, 1, 1)])
@pytest.mark.parametrize("batches", ["one", "three_with_empty"])
def test_strided_conv_equals_dense(path: str, kernel_size: int, stride: int, dilation: int, batches: str, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(100 + kernel_size * 10 + stride)
    counts = BATCHES[batches]
    x = sparse_input(gen, counts, GRID, 3, DT)
    conv = SparseConv3d(3, 4, kernel_size, stride=stride, dilation=dilation, algorithm=algorithm).to(DT)
    y = conv(x)
    assert y.stride == stride
    expected_sites = torch.unique(torch.cat([x.coords[:, :1], x.coords[:, 1:] // stride * stride], 1), dim=0)
    assert torch.equal(torch.unique(y.coords, dim=0), expected_sites)

    wd = weight_to_dense(conv.weight, kernel_size)
    dense = F.conv3d(to_dense(x.features, x.coords, 1, len(counts), GRID), wd, stride=stride,
                     padding=dilation * ((kernel_size - 1) // 2), dilation=dilation)
    ref = gather_dense(dense, y.coords, stride)
    torch.testing.assert_close(y.features, ref, **TOL)

    probe = torch.randn(ref.shape, generator=gen, dtype=DT)
    for a, b in zip(_grads(y.features, probe, x.features, conv.weight), _grads(ref, probe, x.features, conv.weight)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("kernel_size,stride,dilation", [(2, 2, 1), (3, 2, 1), (1, 2, 1), (5, 2, 1), (3, 2, 2)])
@pytest.mark.parametrize("batches", ["two", "three_with_empty"])
def test_transposed_conv_equals_dense(path: str, kernel_size: int, stride: int, dilation: int, batches: str, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    gen = torch.Generator().manual_seed(200 + kernel_size * 10 + dilation)
    counts = BATCHES[batches]
    fine = sparse_input(gen, counts, GRID, 2, DT)
    down = SparseConv3d(2, 3, kernel_size, stride=stride, dilation=dilation, algorithm=algorithm).to(DT)
    coarse = down(fine)
    coarse_feats = torch.randn(coarse.num_points, 3, generator=gen, dtype=DT).requires_grad_(True)
    coarse = coarse.replace_features(coarse_feats)
    builds = fine.manager.map_builds
    up = SparseConvTranspose3d(3, 4, kernel_size, stride=stride, dilation=dilation, algorithm=algorithm).to(DT)
    y = up(coarse)
    assert fine.manager.map_builds == builds, "the transposed conv must reuse the down map"
    assert y.coords is fine.coords and y.stride == 1

    wd = weight_to_dense(up.weight, kernel_size).transpose(0, 1)  # (C_in, C_out, k, k, k)
    dense_in = to_dense(coarse_feats, coarse.coords, stride, len(counts), GRID // stride)
    dense = dense_conv_transpose(dense_in, wd, stride, dilation * ((kernel_size - 1) // 2), dilation, GRID)
    ref = gather_dense(dense, y.coords, 1)
    torch.testing.assert_close(y.features, ref, **TOL)

    probe = torch.randn(ref.shape, generator=gen, dtype=DT)
    for a, b in zip(_grads(y.features, probe, coarse_feats, up.weight), _grads(ref, probe, coarse_feats, up.weight)):
        torch.testing.assert_close(a, b, **TOL)


def test_float32_matches_dense_within_float32_tolerance() -> None:
    gen = torch.Generator().manual_seed(7)
    x = sparse_input(gen, [300, 200], 12, 16, torch.float32)
    conv = SubMConv3d(16, 32, 3)
    y = conv(x)
    dense = F.conv3d(to_dense(x.features, x.coords, 1, 2, 12), weight_to_dense(conv.weight, 3), padding=1)
    torch.testing.assert_close(y.features, gather_dense(dense, x.coords, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", CONV_PATHS)
def test_empty_input_gives_empty_output_and_zero_weight_grad(path: str, monkeypatch) -> None:
    algorithm = conv_path(path, monkeypatch)
    feats = torch.zeros(0, 3, dtype=DT, requires_grad=True)
    x = SparseTensor(feats, torch.zeros(0, 4, dtype=torch.int32), batch_size=2)
    sub = SubMConv3d(3, 4, algorithm=algorithm).to(DT)
    down = SparseConv3d(4, 5, 3, stride=2, algorithm=algorithm).to(DT)
    up = SparseConvTranspose3d(5, 2, 3, stride=2, algorithm=algorithm).to(DT)
    y = up(down(sub(x)))
    assert y.features.shape == (0, 2) and y.stride == 1
    y.features.sum().backward()
    assert feats.grad.shape == (0, 3)
    torch.testing.assert_close(sub.weight.grad, torch.zeros_like(sub.weight))


def test_float32_fast_gemm_path_matches_dense_values_and_gradients(monkeypatch) -> None:
    """Float32 CPU convolutions big enough for ``functional._product``'s oneDNN route (where this
    torch has it): outputs, input and weight gradients against the float64 dense reference."""
    from scene3d.sparse import functional

    monkeypatch.setattr(native, "supports", lambda *args: False)      # the PyTorch path
    calls = []
    if functional._onednn_linear is not None:
        real = functional._onednn_linear
        monkeypatch.setattr(functional, "_onednn_linear", lambda *a: calls.append(a[0].shape) or real(*a))
    gen = torch.Generator().manual_seed(8)
    x = sparse_input(gen, [5000], 20, 32, torch.float32)
    feats = x.features.clone().requires_grad_(True)
    conv = SubMConv3d(32, 48, 3)
    y = conv(x.replace_features(feats))
    f64, w64 = feats.detach().double().requires_grad_(True), conv.weight.detach().double().requires_grad_(True)
    dense = F.conv3d(to_dense(f64, x.coords, 1, 1, 20), weight_to_dense(w64, 3), padding=1)
    ref = gather_dense(dense, x.coords, 1)
    torch.testing.assert_close(y.features.double(), ref, rtol=1e-4, atol=1e-4)
    probe = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    got = _grads(y.features, probe.float(), feats, conv.weight)
    want = _grads(ref, probe, f64, w64)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-3)
    if functional._onednn_linear is not None:
        assert len(calls) >= 2 * 26 + 2  # forward and input gradient: every offset with pairs, plus the centre


def test_fast_gemm_row_buckets_are_few_and_waste_at_most_an_eighth() -> None:
    from scene3d.sparse.functional import _bucket

    sizes = range(1, 1 << 20)
    buckets = {_bucket(m) for m in sizes}
    assert all(m <= _bucket(m) <= m * 9 / 8 for m in sizes)
    assert len(buckets) <= 8 * 20 + 16  # 8 per octave (the first 16 row counts are their own)


def test_float32_strided_and_transposed_fast_paths_match_dense() -> None:
    """The float32 CPU scatter (selection matrices) and GEMM routes of a stride-2 k=3 convolution
    and its transpose: values and gradients against the float64 dense reference."""
    gen = torch.Generator().manual_seed(9)
    fine = sparse_input(gen, [4000], 20, 32, torch.float32)
    down = SparseConv3d(32, 40, 3, stride=2)
    coarse = down(fine)
    wd = weight_to_dense(down.weight.detach().double().requires_grad_(True), 3)
    f64 = fine.features.detach().double().requires_grad_(True)
    ref = gather_dense(F.conv3d(to_dense(f64, fine.coords, 1, 1, 20), wd, stride=2, padding=1), coarse.coords, 2)
    torch.testing.assert_close(coarse.features.double(), ref, rtol=1e-4, atol=1e-4)
    probe = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    (g_f,) = _grads(coarse.features, probe.float(), fine.features)
    (r_f,) = _grads(ref, probe, f64)
    torch.testing.assert_close(g_f.double(), r_f, rtol=1e-4, atol=1e-4)

    feats = torch.randn(coarse.num_points, 40, generator=gen).requires_grad_(True)
    up = SparseConvTranspose3d(40, 24, 3, stride=2)
    y = up(coarse.replace_features(feats))
    c64, w64 = feats.detach().double().requires_grad_(True), up.weight.detach().double().requires_grad_(True)
    dense_in = to_dense(c64, coarse.coords, 2, 1, 10)
    dense = dense_conv_transpose(dense_in, weight_to_dense(w64, 3).transpose(0, 1), 2, 1, 1, 20)
    ref = gather_dense(dense, y.coords, 1)
    torch.testing.assert_close(y.features.double(), ref, rtol=1e-4, atol=1e-4)
    probe = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(_grads(y.features, probe.float(), feats, up.weight), _grads(ref, probe, c64, w64), strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-3)


def test_fast_gemm_route_follows_the_mkldnn_switch() -> None:
    from scene3d.sparse import functional

    if functional._onednn_linear is None:
        pytest.skip("this torch has no oneDNN linear op")
    x = torch.zeros(4096, 32)
    assert functional._onednn_rows(x, 4096, 32) == 4096
    assert functional._onednn_rows(x, 100, 32) is None  # too small to pay
    assert functional._onednn_rows(x.double(), 4096, 32) is None  # float32 only
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.set_flags(False)
    try:
        assert functional._onednn_rows(x, 4096, 32) is None
    finally:
        torch.backends.mkldnn.set_flags(was)
    assert torch.backends.mkldnn.enabled == was
