"""Pooling (windowed and global), batch norm and activations on sparse tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scene3d.sparse import (
    SparseActivation,
    SparseAvgPool3d,
    SparseBatchNorm,
    SparseGlobalPool,
    SparseLinear,
    SparseMaxPool3d,
    SparseReLU,
    SparseTensor,
    global_pool,
)

from .dense_reference import gather_dense, sparse_input, to_dense

DT = torch.float64
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_size,stride", [(2, 2), (3, 2), (3, 1)])
def test_max_pool_equals_dense_with_empty_as_minus_inf(kernel_size: int, stride: int) -> None:
    gen = torch.Generator().manual_seed(kernel_size)
    x = sparse_input(gen, [60, 0, 40], 8, 3, DT)
    y = SparseMaxPool3d(kernel_size, stride)(x)
    dense = to_dense(x.features, x.coords, 1, 3, 8, fill=float("-inf"))
    pad = (kernel_size - 1) // 2
    ref = gather_dense(F.max_pool3d(F.pad(dense, (pad,) * 6, value=float("-inf")), kernel_size, stride), y.coords, stride)
    torch.testing.assert_close(y.features, ref, **TOL)
    probe = torch.randn(ref.shape, generator=gen, dtype=DT)
    g1 = torch.autograd.grad((y.features * probe).sum(), x.features)[0]
    g2 = torch.autograd.grad((ref * probe).sum(), x.features)[0]
    torch.testing.assert_close(g1, g2, **TOL)


@pytest.mark.parametrize("kernel_size,stride", [(2, 2), (3, 2)])
def test_avg_pool_is_mean_over_active_inputs(kernel_size: int, stride: int) -> None:
    gen = torch.Generator().manual_seed(10 + kernel_size)
    x = sparse_input(gen, [70, 30], 8, 3, DT)
    y = SparseAvgPool3d(kernel_size, stride)(x)
    ones = torch.ones(x.num_points, 1, dtype=DT)
    pad = (kernel_size - 1) // 2
    window_sum = F.avg_pool3d(to_dense(x.features, x.coords, 1, 2, 8), kernel_size, stride, pad,
                              count_include_pad=True) * kernel_size**3
    window_cnt = F.avg_pool3d(to_dense(ones, x.coords, 1, 2, 8), kernel_size, stride, pad,
                              count_include_pad=True) * kernel_size**3
    ref = gather_dense(window_sum / window_cnt, y.coords, stride)
    torch.testing.assert_close(y.features, ref, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda f: SparseAvgPool3d(kernel_size, stride)(x.replace_features(f)).features,
                                    (x.features,))


def test_max_pool_gradcheck() -> None:
    gen = torch.Generator().manual_seed(3)
    x = sparse_input(gen, [20, 10], 4, 2, DT)
    pool = SparseMaxPool3d(2)
    assert torch.autograd.gradcheck(lambda f: pool(x.replace_features(f)).features, (x.features,))


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_global_pool_per_batch_element(mode: str) -> None:
    gen = torch.Generator().manual_seed(4)
    x = sparse_input(gen, [30, 0, 12], 6, 4, DT)
    out = SparseGlobalPool(mode)(x)
    assert out.shape == (3, 4)
    for b in range(3):
        rows = x.features[x.coords[:, 0] == b]
        expected = torch.zeros(4, dtype=DT) if rows.shape[0] == 0 else (rows.mean(0) if mode == "mean" else rows.amax(0))
        torch.testing.assert_close(out[b], expected, **TOL)
    assert torch.autograd.gradcheck(lambda f: global_pool(x.replace_features(f), mode), (x.features,))


def test_global_pool_of_empty_tensor() -> None:
    x = SparseTensor(torch.zeros(0, 3), torch.zeros(0, 4, dtype=torch.int32), batch_size=2)
    for mode in ("mean", "max"):
        torch.testing.assert_close(global_pool(x, mode), torch.zeros(2, 3))


def test_batchnorm_activation_linear_keep_sites() -> None:
    gen = torch.Generator().manual_seed(5)
    x = sparse_input(gen, [50, 20], 6, 4, torch.float32)
    bn = SparseBatchNorm(4)
    y = SparseLinear(4, 2)(SparseActivation(torch.nn.LeakyReLU(0.1))(SparseReLU()(bn(x))))
    assert y.coords is x.coords and y.features.shape == (70, 2)
    ref = torch.nn.functional.batch_norm(x.features, None, None, bn.weight, bn.bias, training=True)
    torch.testing.assert_close(bn(x).features, ref)
    empty = SparseTensor(torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.int32), batch_size=1)
    assert bn(empty).features.shape == (0, 4)
