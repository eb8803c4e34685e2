"""``nn.Module`` layers on ``SparseTensor``: convolutions, pooling, norm, activations.

Every convolution holds ``weight`` of shape ``(K, C_in, C_out)`` with
``K = kernel_size**3`` in the offset order of ``coords.kernel_offsets`` (x-major), and
an optional ``bias`` ``(C_out,)``. Conversions to the dense ``torch.nn.Conv3d`` and
spconv layouts are ``weight_to_dense`` / ``weight_from_dense`` here and in
``scene3d.sparse.spconv_adapter``.
"""

from __future__ import annotations

import abc
import math
from typing import Literal

import torch
from torch import Tensor, nn

from scene3d.sparse.errors import SparseTensorError
from scene3d.sparse.functional import (
    CONV_ALGORITHMS,
    ConvAlgorithm,
    global_pool,
    sparse_avg_pool,
    sparse_conv,
    sparse_max_pool,
)
from scene3d.sparse.tensor import SparseTensor


def weight_to_dense(weight: Tensor, kernel_size: int) -> Tensor:
    """Our ``(K, C_in, C_out)`` weight as a ``conv3d`` weight ``(C_out, C_in, k, k, k)``.

    The dense weight applies to a grid indexed ``[b, c, x, y, z]`` with
    ``padding = dilation * ((k - 1) // 2)``. For ``conv_transpose3d`` (weight
    ``(C_in, C_out, k, k, k)``) use ``weight_to_dense(w, k).transpose(0, 1)``.
    """
    k, c_in, c_out = weight.shape
    return weight.reshape(kernel_size, kernel_size, kernel_size, c_in, c_out).permute(4, 3, 0, 1, 2)


def weight_from_dense(dense: Tensor) -> Tensor:
    """Inverse of ``weight_to_dense``: ``(C_out, C_in, k, k, k) -> (k**3, C_in, C_out)``."""
    c_out, c_in = dense.shape[:2]
    return dense.permute(2, 3, 4, 1, 0).reshape(-1, c_in, c_out)


def _check_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


class _SparseConvBase(nn.Module, abc.ABC):
    """Weights, bias and the forward pass shared by the convolutions; the defaults are those
    of the strided and transposed convolutions (k = 2, stride 2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int = 2,
        dilation: int = 1,
        bias: bool = False,
        algorithm: ConvAlgorithm = "gather_scatter",
    ):
        super().__init__()
        _check_int("in_channels", in_channels, 1)
        _check_int("out_channels", out_channels, 1)
        _check_int("kernel_size", kernel_size, 1)
        _check_int("stride", stride, 1)
        _check_int("dilation", dilation, 1)
        if algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {CONV_ALGORITHMS}, got {algorithm!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.algorithm: ConvAlgorithm = algorithm
        self.weight = nn.Parameter(torch.empty(kernel_size**3, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``+-1/sqrt(fan_in)``, ``fan_in = K * C_in`` (as ``torch.nn.Conv3d``)."""
        bound = 1.0 / math.sqrt(self.weight.shape[0] * self.in_channels)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @abc.abstractmethod
    def _out_stride(self, x: SparseTensor) -> int:
        """Tensor stride of the output for input ``x``."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N_in, C_in)`` at ``x.stride`` -> ``(N_out, C_out)`` at the output stride."""
        if x.num_channels != self.in_channels:
            raise SparseTensorError(
                f"{type(self).__name__} expects {self.in_channels} channels, got {x.num_channels}"
            )
        out_stride = self._out_stride(x)
        kmap = x.manager.kernel_map(x.stride, out_stride, self.kernel_size, self.dilation)
        out = sparse_conv(x.features, self.weight, kmap, self.algorithm)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor._derived(out, out_stride, x.manager)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, dilation={self.dilation}, bias={self.bias is not None}, "
            f"algorithm={self.algorithm!r}"
        )


class SubMConv3d(_SparseConvBase):
    """Submanifold convolution: outputs exactly at the input sites (stride unchanged).

    ``out[p] = sum_k x[p + o_k * dilation * x.stride] @ weight[k]`` over active inputs,
    i.e. a dense ``conv3d`` (``padding = dilation * (k // 2)``) read at the active sites.
    Kernel sizes are odd.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        kernel_size: odd edge length ``k`` (in voxels of the input stride).
        dilation: spacing of kernel taps.
        bias: add a learned ``(C_out,)`` bias.
        algorithm: convolution algorithm (``functional.CONV_ALGORITHMS``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        bias: bool = False,
        algorithm: ConvAlgorithm = "gather_scatter",
    ):
        if kernel_size % 2 != 1:
            raise ValueError(f"SubMConv3d needs an odd kernel_size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, 1, dilation, bias, algorithm)

    def _out_stride(self, x: SparseTensor) -> int:
        return x.stride


class SparseConv3d(_SparseConvBase):
    """Strided (downsampling) convolution: stride ``s`` -> ``s * stride``.

    Output sites are ``floor(c / (s * stride)) * (s * stride)`` of the input sites;
    ``out[p] = sum_k x[p + o_k * dilation * s] @ weight[k]``, equal to a dense ``conv3d``
    with that stride and ``padding = dilation * ((k - 1) // 2)`` read at the output sites.
    ``stride=1`` is a submanifold convolution.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        kernel_size: edge length ``k`` (2 = non-overlapping, the U-Net default).
        stride: downsampling factor.
        dilation: spacing of kernel taps.
        bias: add a learned ``(C_out,)`` bias.
        algorithm: convolution algorithm.
    """

    def _out_stride(self, x: SparseTensor) -> int:
        return x.stride * self.stride


class SparseConvTranspose3d(_SparseConvBase):
    """Transposed (upsampling) convolution: stride ``s`` -> ``s / stride``.

    The output sites are the sites the network had at stride ``s / stride`` (taken from
    the manager), and the kernel map is the transpose of the ``SparseConv3d`` map with
    the same ``kernel_size`` and ``dilation`` (reused from the cache when the encoder
    built it). Equal to a dense ``conv_transpose3d`` with weight
    ``weight_to_dense(w, k).transpose(0, 1)`` read at the output sites.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        kernel_size: edge length ``k``.
        stride: upsampling factor (``x.stride`` must be divisible by it).
        dilation: spacing of kernel taps.
        bias: add a learned ``(C_out,)`` bias.
        algorithm: convolution algorithm.
    """

    def _out_stride(self, x: SparseTensor) -> int:
        if x.stride % self.stride != 0:
            raise SparseTensorError(
                f"SparseConvTranspose3d(stride={self.stride}) needs an input stride divisible "
                f"by {self.stride}, got {x.stride}"
            )
        return x.stride // self.stride


class _SparsePool(nn.Module):
    """A pooling window over active sites; subclasses name the reduction (``_reduce``).

    Args:
        kernel_size: window edge ``k``.
        stride: downsampling factor (default ``kernel_size``; 1 keeps the sites).
        dilation: spacing of window taps.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None, dilation: int = 1):
        super().__init__()
        stride = kernel_size if stride is None else stride
        _check_int("kernel_size", kernel_size, 1)
        _check_int("stride", stride, 1)
        _check_int("dilation", dilation, 1)
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N_in, C)`` -> ``(N_out, C)`` at stride ``x.stride * stride``."""
        out_stride = x.stride * self.stride
        kmap = x.manager.kernel_map(x.stride, out_stride, self.kernel_size, self.dilation)
        return SparseTensor._derived(self._reduce(x.features, kmap), out_stride, x.manager)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}"


class SparseMaxPool3d(_SparsePool):
    """Max over the active inputs of each window (sites and windows as ``SparseConv3d``)."""

    _reduce = staticmethod(sparse_max_pool)


class SparseAvgPool3d(_SparsePool):
    """Mean over the active inputs of each window (empty voxels are not counted)."""

    _reduce = staticmethod(sparse_avg_pool)


class SparseBatchNorm(nn.BatchNorm1d):
    """``torch.nn.BatchNorm1d`` over the ``(N, C)`` features (statistics over all sites).

    An empty tensor (``N == 0``) passes through unchanged.
    """

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        """``(N, C) -> (N, C)``."""
        if x.num_points == 0:
            return x
        return x.replace_features(super().forward(x.features))


class SparseActivation(nn.Module):
    """Apply an elementwise module (``nn.ReLU()``, ``nn.GELU()``, ...) to the features.

    Args:
        fn: the elementwise module.
    """

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N, C) -> (N, C)``."""
        return x.replace_features(self.fn(x.features))


class SparseReLU(SparseActivation):
    """``ReLU`` on the features."""

    def __init__(self, inplace: bool = False):
        super().__init__(nn.ReLU(inplace=inplace))


class SparseLinear(nn.Linear):
    """A per-site linear layer ``(N, C_in) -> (N, C_out)`` (a 1x1x1 convolution, faster)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        """``(N, C_in) -> (N, C_out)``."""
        return x.replace_features(super().forward(x.features))


class SparseGlobalPool(nn.Module):
    """Pool each batch element to one vector: ``SparseTensor -> (B, C)``.

    Args:
        mode: ``"mean"`` or ``"max"``; empty batch elements give zeros.
    """

    def __init__(self, mode: Literal["mean", "max"] = "mean"):
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"mode must be 'mean' or 'max', got {mode!r}")
        self.mode: Literal["mean", "max"] = mode

    def forward(self, x: SparseTensor) -> Tensor:
        """Returns ``(B, C)``, ``B = x.batch_size``."""
        return global_pool(x, self.mode)
