"""Random sparse inputs and the dense ``conv3d`` reference the sparse layers must equal."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from scene3d.sparse import SparseTensor, native


def random_coords(gen: torch.Generator, batch_counts: list[int], grid: int) -> Tensor:
    """Unique ``(N, 4)`` int32 coordinates: ``batch_counts[b]`` random sites of a ``grid**3`` cube per batch."""
    rows = []
    for b, n in enumerate(batch_counts):
        flat = torch.randperm(grid**3, generator=gen)[:n]
        xyz = torch.stack([flat // (grid * grid), (flat // grid) % grid, flat % grid], dim=1)
        rows.append(torch.cat([torch.full((n, 1), b), xyz], dim=1))
    if not rows:
        return torch.zeros(0, 4, dtype=torch.int32)
    return torch.cat(rows).to(torch.int32)


def to_dense(features: Tensor, coords: Tensor, stride: int, batch_size: int, size: int, fill: float = 0.0) -> Tensor:
    """Scatter ``(N, C)`` features to a ``(B, C, size, size, size)`` grid indexed ``[b, c, x, y, z]``.

    Grid cell ``i`` holds the site at coordinate ``i * stride``; empty cells hold ``fill``.
    Differentiable with respect to ``features``.
    """
    c = features.shape[1]
    dense = features.new_full((batch_size, size, size, size, c), fill)
    idx = coords.long()
    dense = dense.index_put((idx[:, 0], idx[:, 1] // stride, idx[:, 2] // stride, idx[:, 3] // stride), features)
    return dense.permute(0, 4, 1, 2, 3)


def gather_dense(dense: Tensor, coords: Tensor, stride: int) -> Tensor:
    """Read ``(B, C, D, D, D)`` at ``(N, 4)`` coordinates of stride ``stride``: ``(N, C)``."""
    idx = coords.long()
    return dense[idx[:, 0], :, idx[:, 1] // stride, idx[:, 2] // stride, idx[:, 3] // stride]


def sparse_input(
    gen: torch.Generator, batch_counts: list[int], grid: int, channels: int, dtype: torch.dtype
) -> SparseTensor:
    """A random stride-1 ``SparseTensor`` with ``features.requires_grad``."""
    coords = random_coords(gen, batch_counts, grid)
    feats = torch.randn(coords.shape[0], channels, generator=gen, dtype=dtype).requires_grad_(True)
    return SparseTensor(feats, coords, batch_size=len(batch_counts))


def dense_conv_transpose(x: Tensor, weight: Tensor, stride: int, padding: int, dilation: int, size: int) -> Tensor:
    """``conv_transpose3d`` whose output is cropped / padded to ``size`` cells per axis."""
    k = weight.shape[-1]
    natural = (x.shape[-1] - 1) * stride - 2 * padding + dilation * (k - 1) + 1
    out_pad = size - natural
    if 0 <= out_pad < max(stride, dilation):
        return F.conv_transpose3d(x, weight, stride=stride, padding=padding, dilation=dilation, output_padding=out_pad)
    y = F.conv_transpose3d(x, weight, stride=stride, padding=padding, dilation=dilation)
    if y.shape[-1] >= size:
        return y[..., :size, :size, :size]
    extra = size - y.shape[-1]
    return F.pad(y, (0, extra, 0, extra, 0, extra))


#: The convolution paths the tests cover: every algorithm, and ``"gather_scatter"`` twice, with
#: the native CPU kernel (skipped where none is built) and on its PyTorch path.
CONV_PATHS = ("autograd", "gather_scatter", "gather_scatter:torch", "implicit_gemm")


def conv_path(path: str, monkeypatch) -> str:
    """The algorithm of ``path`` (one of :data:`CONV_PATHS`); turns the native kernel off
    through ``monkeypatch`` for ``":torch"``."""
    algorithm, _, backend = path.partition(":")
    if backend == "torch":
        monkeypatch.setattr(native, "supports", lambda *args: False)
    elif algorithm == "gather_scatter" and native.library() is None:
        pytest.skip("the native sparse-convolution kernel is not built here (no C++ compiler)")
    return algorithm
