"""Sparse convolution, pooling and concatenation on features given a ``KernelMap``.

Three interchangeable convolution algorithms compute the same thing,
``out[o] = sum_k sum_{(i, o) in map_k} features[i] @ weight[k]``:

- ``"autograd"``: per-offset ``index_select`` -> ``mm`` -> ``index_add``, differentiated
  by PyTorch autograd (keeps every gathered block alive for backward). The reference.
- ``"gather_scatter"``: the same per-offset gather-GEMM-scatter as a custom
  ``autograd.Function`` that saves only the features and recomputes the gathers in
  backward (less memory). On the CPU in float32 and float64 (no autocast), layers of at
  most ``native.MAX_WIDTH`` channels in x out run the forward pass and both gradients
  through the native kernels instead when they are built
  (:mod:`scene3d.sparse.native`: output-stationary over the map's neighbour tables, and the
  weight gradient per offset in registers; compiled once per machine).
- ``"implicit_gemm"``: uses the dense neighbour table ``(n_out, K)`` of the map: gathers
  ``(rows, K * C_in)`` blocks (a zero row for absent neighbours) and does one GEMM per
  block of rows against ``weight.reshape(K * C_in, C_out)``. Backward uses the input-side
  table, so no scatter-add is needed anywhere. More FLOPs (absent neighbours multiply
  zeros) but large dense GEMMs. It pays only where most of the ``K`` neighbours exist;
  on scans (2-9 of 27 neighbours) ``"gather_scatter"``, the default, is faster on CPU
  (measured in docs/sparse.md).

All run on CPU and CUDA from the same PyTorch code.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from scene3d.sparse import native
from scene3d.sparse.coords import KernelMap
from scene3d.sparse.errors import SparseTensorError
from scene3d.sparse.tensor import SparseTensor, check_same_sites

ConvAlgorithm = Literal["autograd", "gather_scatter", "implicit_gemm"]
CONV_ALGORITHMS: tuple[str, ...] = ("autograd", "gather_scatter", "implicit_gemm")

_GATHER_ELEMENTS = 1 << 22  # implicit GEMM: at most this many gathered values per block


def _conv_autograd(features: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:
    out = features.new_zeros(kmap.n_out, weight.shape[2])
    for k in range(kmap.kernel_volume):  # empty offsets too, so the graph always reaches weight
        a, b = kmap.ptr[k], kmap.ptr[k + 1]
        if k == kmap.identity_k:
            out = out + features @ weight[k]
            continue
        rows = features.index_select(0, kmap.in_idx[a:b]) @ weight[k]  # (M_k, C_out)
        out = out.index_add(0, kmap.out_idx[a:b], rows)
    return out


class _GatherScatterConv(torch.autograd.Function):
    """Gather-GEMM-scatter; ``compute`` is the GEMMs' dtype (the autocast dtype under autocast).
    Outputs, gradients and their accumulation over offsets keep the features' dtype. The
    centre offset of a submanifold map (pairs ``(i, i)``) is one GEMM over all rows that starts
    the accumulators (no zero fill); the per-row GEMMs go through :func:`_product`."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, kmap: KernelMap, compute: torch.dtype) -> Tensor:
        ctx.kmap, ctx.compute = kmap, compute
        ctx.save_for_backward(features, weight)
        if compute == features.dtype and native.supports(features, weight):
            return native.table_conv(features, weight, kmap.neighbor_table("out", torch.int32))
        f, w = features.to(compute), weight.to(compute)  # no-ops without autocast
        w_t = w.transpose(1, 2).contiguous()  # (K, C_out, C_in)
        c_out, centre = weight.shape[2], kmap.identity_k
        if centre is None:
            out = features.new_zeros(kmap.n_out, c_out)
        else:
            rows = _onednn_rows(f, kmap.n_in, c_out)
            out = _product(_block(f, None, rows), w[centre], w_t[centre], rows is not None)[:kmap.n_in]
            out = out.to(features.dtype)
        for k in range(kmap.kernel_volume):
            a, b = kmap.ptr[k], kmap.ptr[k + 1]
            if a == b or k == centre:
                continue
            rows = _onednn_rows(f, b - a, c_out)
            prod = _product(_block(f, kmap.in_idx[a:b], rows), w[k], w_t[k], rows is not None)[:b - a]  # (M_k, C_out)
            out.index_add_(0, kmap.out_idx[a:b], prod.to(out.dtype))
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        features, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        f, w = features.to(ctx.compute), weight.to(ctx.compute)
        w_t = w.transpose(1, 2)  # (K, C_out, C_in) views; w[k] is the transpose of w_t[k] for grad_f
        g_all = grad_out.contiguous().to(ctx.compute)
        need_f, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        c_in, centre = weight.shape[1], kmap.identity_k
        grad_f = grad_w = None
        if ctx.compute == features.dtype and native.supports(g_all, weight):
            if need_f:
                grad_f = native.table_conv(g_all, weight.transpose(1, 2), kmap.neighbor_table("in", torch.int32))
            if need_w:
                grad_w = native.pair_wgrad(features, g_all, kmap.in_idx, kmap.out_idx, kmap.ptr)
            return grad_f, grad_w, None, None
        if need_f:
            if centre is None:
                grad_f = torch.zeros_like(features)
            else:
                rows = _onednn_rows(g_all, kmap.n_out, c_in)
                grad_f = _product(_block(g_all, None, rows), w_t[centre], w[centre], rows is not None)[:kmap.n_out]
                grad_f = grad_f.to(features.dtype)
        if need_w:
            grad_w = torch.zeros_like(weight)
            if centre is not None:
                grad_w[centre] = f.t() @ g_all
        for k in range(kmap.kernel_volume):
            a, b = kmap.ptr[k], kmap.ptr[k + 1]
            if a == b or k == centre:
                continue
            rows = _onednn_rows(g_all, b - a, c_in) if need_f else None
            g = _block(g_all, kmap.out_idx[a:b], rows)  # (M_k, C_out), zero rows below M_k when padded
            if need_w:
                grad_w[k] = f.index_select(0, kmap.in_idx[a:b]).t() @ g[:b - a]
            if need_f:
                prod = _product(g, w_t[k], w[k], rows is not None)[:b - a]
                grad_f.index_add_(0, kmap.in_idx[a:b], prod.to(grad_f.dtype))
        return grad_f, grad_w, None, None


_ONEDNN_MIN_MACS = 1 << 20  # below this many multiply-adds oneDNN's per-call cost outweighs its speed
_onednn_linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None


def _bucket(m: int) -> int:
    """``m`` rounded up to the next of 8 steps per octave (at most 1/8 more rows): the row counts
    oneDNN builds kernels for stay few when every step brings new voxels."""
    step = 1 << max(m.bit_length() - 4, 0)
    return -(-m // step) * step


def _onednn_rows(x: Tensor, m: int, n: int) -> int | None:
    """How many rows (:func:`_bucket` of ``m``) the product of ``m`` rows of ``x`` ``(., K)`` with a
    ``(K, n)`` matrix gets on the oneDNN route, or None when it takes ``torch.mm``.

    Float32 CPU products of at least ``_ONEDNN_MIN_MACS`` multiply-adds run through oneDNN's
    matmul (torch's fused-linear op) instead of ``torch.mm``, which calls MKL: the same fp32
    arithmetic, and on CPUs where MKL does not use AVX-512 (AMD) 1.5-3x faster at the shapes of
    sparse convolutions (benchmarks/RESULTS.md, issue 16 speed). oneDNN builds (and caches) a
    kernel per shape, about 1.5 ms each, so the rows are padded with zeros to a bucketed count.
    ``torch.backends.mkldnn.set_flags(False)`` turns the route off.
    """
    if (_onednn_linear is None or x.device.type != "cpu" or x.dtype != torch.float32
            or m * x.shape[1] * n < _ONEDNN_MIN_MACS or not torch.backends.mkldnn.enabled):
        return None
    return _bucket(m)


def _block(x: Tensor, index: Tensor | None, rows: int | None) -> Tensor:
    """``x[index]`` (``x`` when ``index`` is None), ``(M, C)``, padded with zero rows to ``rows``
    rows when ``rows`` is given (gathered straight into the padded block)."""
    m = x.shape[0] if index is None else index.shape[0]
    if rows is None or (rows == m and index is None):
        return x if index is None else x.index_select(0, index)
    out = x.new_empty(rows, x.shape[1])
    if index is None:
        out[:m] = x
    else:
        torch.index_select(x, 0, index, out=out[:m])
    out[m:] = 0
    return out


def _product(a: Tensor, b: Tensor, b_t: Tensor, onednn: bool) -> Tensor:
    """``a @ b``: ``(M, K) @ (K, N) -> (M, N)``, given also ``b_t = b.T`` ``(N, K)``; through
    oneDNN when ``onednn`` (see :func:`_onednn_rows`), else ``torch.mm``."""
    if onednn:
        return _onednn_linear(a.contiguous(), b_t.contiguous(), None, "none", [], "")
    return a @ b


def _padded_gather(values: Tensor, table: Tensor, r0: int, r1: int) -> Tensor:
    """``values_padded[table[r0:r1]]`` flattened to ``(r1 - r0, K * C)``; -1 reads a zero row."""
    idx = table[r0:r1]
    if values.shape[0] == 0:
        return values.new_zeros(r1 - r0, idx.shape[1] * values.shape[1])
    return values[idx].masked_fill_((idx < 0).unsqueeze(-1), 0).flatten(1)


def _rows_per_block(kvol: int, channels: int) -> int:
    return max(1, _GATHER_ELEMENTS // max(1, kvol * channels))


class _ImplicitGemmConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, kmap: KernelMap) -> Tensor:
        ctx.kmap = kmap
        ctx.save_for_backward(features, weight)
        kvol, c_in, c_out = weight.shape
        table = kmap.neighbor_table("out")  # (n_out, K)
        w = weight.reshape(kvol * c_in, c_out)
        out = features.new_empty(kmap.n_out, c_out)
        step = _rows_per_block(kvol, c_in)
        for r0 in range(0, kmap.n_out, step):
            r1 = min(r0 + step, kmap.n_out)
            torch.mm(_padded_gather(features, table, r0, r1), w, out=out[r0:r1])
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        features, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        kvol, c_in, c_out = weight.shape
        grad_out = grad_out.contiguous()
        need_f, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_f = grad_w = None
        if need_w:
            table = kmap.neighbor_table("out")
            grad_w2 = weight.new_zeros(kvol * c_in, c_out)
            step = _rows_per_block(kvol, c_in)
            for r0 in range(0, kmap.n_out, step):
                r1 = min(r0 + step, kmap.n_out)
                grad_w2.addmm_(_padded_gather(features, table, r0, r1).t(), grad_out[r0:r1])
            grad_w = grad_w2.view(kvol, c_in, c_out)
        if need_f:
            table_in = kmap.neighbor_table("in")  # (n_in, K) output rows
            w_t = weight.transpose(1, 2).reshape(kvol * c_out, c_in)  # (K * C_out, C_in)
            grad_f = features.new_empty(kmap.n_in, c_in)
            step = _rows_per_block(kvol, c_out)
            for r0 in range(0, kmap.n_in, step):
                r1 = min(r0 + step, kmap.n_in)
                torch.mm(_padded_gather(grad_out, table_in, r0, r1), w_t, out=grad_f[r0:r1])
        return grad_f, grad_w, None


def sparse_conv(
    features: Tensor, weight: Tensor, kmap: KernelMap, algorithm: ConvAlgorithm = "gather_scatter"
) -> Tensor:
    """Apply a sparse convolution given its kernel map.

    Args:
        features: ``(n_in, C_in)`` input features.
        weight: ``(K, C_in, C_out)`` kernel, ``K = kernel_size**3`` in the order of
            ``coords.kernel_offsets``.
        kmap: the map from input to output rows.
        algorithm: one of ``CONV_ALGORITHMS`` (same result, different speed/memory).
    Returns:
        ``(n_out, C_out)`` output features (zeros at outputs with no input neighbour), in the
        features' dtype.
    Raises:
        SparseTensorError: shapes disagree with the map.

    Under autocast (``torch.autocast``, CPU or CUDA) ``"gather_scatter"`` does its GEMMs in the
    autocast dtype (bf16 / fp16) and accumulates the offsets' partial sums and the gradients
    in fp32, returning fp32; the other two algorithms run entirely in fp32.
    """
    if weight.dim() != 3 or weight.shape[0] != kmap.kernel_volume or weight.shape[1] != features.shape[1]:
        raise SparseTensorError(
            f"weight {tuple(weight.shape)} does not fit K={kmap.kernel_volume}, "
            f"C_in={features.shape[1]}"
        )
    if features.shape[0] != kmap.n_in:
        raise SparseTensorError(f"features have {features.shape[0]} rows, the map expects {kmap.n_in}")
    kind = features.device.type
    if torch.is_autocast_enabled(kind):  # accumulate in fp32; only the GEMMs in the low dtype
        compute = torch.get_autocast_dtype(kind)
        with torch.autocast(kind, enabled=False):
            return _conv(features.float(), weight.float(), kmap, algorithm, compute)
    if features.dtype != weight.dtype:
        raise TypeError(f"features are {features.dtype} but weight is {weight.dtype}")
    return _conv(features, weight, kmap, algorithm, features.dtype)


def _conv(features: Tensor, weight: Tensor, kmap: KernelMap, algorithm: str, compute: torch.dtype) -> Tensor:
    if algorithm == "implicit_gemm":
        return _ImplicitGemmConv.apply(features, weight, kmap)
    if algorithm == "gather_scatter":
        return _GatherScatterConv.apply(features, weight, kmap, compute)
    if algorithm == "autograd":
        return _conv_autograd(features, weight, kmap)
    raise ValueError(f"algorithm must be one of {CONV_ALGORITHMS}, got {algorithm!r}")


def sparse_max_pool(features: Tensor, kmap: KernelMap) -> Tensor:
    """Max over each output's active inputs: ``(n_in, C) -> (n_out, C)``; 0 where none."""
    c = features.shape[1]
    out = features.new_zeros(kmap.n_out, c)
    if kmap.num_pairs == 0:
        return out
    index = kmap.out_idx.unsqueeze(1).expand(-1, c)
    return out.scatter_reduce(0, index, features.index_select(0, kmap.in_idx), "amax", include_self=False)


def sparse_avg_pool(features: Tensor, kmap: KernelMap) -> Tensor:
    """Mean over each output's active inputs: ``(n_in, C) -> (n_out, C)``; 0 where none."""
    out = features.new_zeros(kmap.n_out, features.shape[1])
    out = out.index_add(0, kmap.out_idx, features.index_select(0, kmap.in_idx))
    count = torch.bincount(kmap.out_idx, minlength=kmap.n_out).clamp_(min=1)
    return out / count.unsqueeze(1).to(out.dtype)


def global_pool(x: SparseTensor, mode: Literal["mean", "max"] = "mean") -> Tensor:
    """Pool all sites of each batch element.

    Args:
        x: input with ``B = x.batch_size``.
        mode: ``"mean"`` or ``"max"``.
    Returns:
        ``(B, C)``; rows of batch elements without sites are 0.
    """
    b = x.coords[:, 0].long()
    c = x.num_channels
    out = x.features.new_zeros(x.batch_size, c)
    if mode == "mean":
        out = out.index_add(0, b, x.features)
        count = torch.bincount(b, minlength=x.batch_size).clamp_(min=1)
        return out / count.unsqueeze(1).to(out.dtype)
    if mode == "max":
        if x.num_points == 0:
            return out
        return out.scatter_reduce(0, b.unsqueeze(1).expand(-1, c), x.features, "amax", include_self=False)
    raise ValueError(f"mode must be 'mean' or 'max', got {mode!r}")


def sparse_cat(tensors: list[SparseTensor]) -> SparseTensor:
    """Concatenate features of tensors on the same sites along channels: ``(N, sum C_i)``.

    Raises:
        SparseTensorError: the tensors do not share manager and stride.
    """
    if not tensors:
        raise ValueError("sparse_cat needs at least one tensor")
    for t in tensors[1:]:
        check_same_sites(tensors[0], t, "sparse_cat")
    return tensors[0].replace_features(torch.cat([t.features for t in tensors], dim=1))
