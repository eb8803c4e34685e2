"""Optional spconv 2.x backend behind the same module API (``pip install spconv``).

``SpconvSubMConv3d``, ``SpconvSparseConv3d`` and ``SpconvSparseConvTranspose3d`` are
drop-in subclasses of our ``SubMConv3d`` / ``SparseConv3d`` / ``SparseConvTranspose3d``:
same constructor, same ``weight`` parameter ``(K, C_in, C_out)`` (so state dicts are
interchangeable), same ``SparseTensor`` in and out. Only the arithmetic and the index
building run in spconv; the weight is converted to spconv's layout on every call
(a permute, differentiable). Importing ``scene3d.sparse`` never imports spconv; this
module imports it lazily and raises ``ImportError`` with the fix when it is absent.

Weight layouts (``k`` = kernel edge, offsets x-major)::

    ours      (k**3, C_in, C_out)             weight[(i*k + j)*k + l, ci, co]
    spconv    (C_out, k, k, k, C_in)  "KRSC"  weight[co, i, j, l, ci]
    conv3d    (C_out, C_in, k, k, k)          weight[co, ci, i, j, l]  (grid [b, c, x, y, z])

``weight_to_spconv`` / ``weight_from_spconv`` convert; spconv indices are ``(b, x, y, z)``
with ``spatial_shape = [X, Y, Z]`` as ours.

Restrictions of this backend: ``SpconvSparseConv3d`` needs ``kernel_size == stride`` and
``dilation == 1`` (only then are spconv's strided output sites ours), and a transposed
convolution must undo a ``SpconvSparseConv3d`` of the same network.
spconv 2.3.8's CPU backward asserts CUDA; ``enable_spconv_cpu_backward`` patches
``get_current_stream`` to return 0 when CUDA is absent (called by every module here).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import Tensor

from scene3d.sparse.errors import SparseTensorError
from scene3d.sparse.modules import SparseConv3d, SparseConvTranspose3d, SubMConv3d
from scene3d.sparse.tensor import SparseTensor

_GRID_ALIGN = 256  # spconv grid origin and shape are multiples of this (largest stride)
_CACHE_KEY = "spconv"


def spconv_available() -> bool:
    """Whether the optional ``spconv`` package is installed."""
    return importlib.util.find_spec("spconv") is not None


def _spconv() -> Any:
    if not spconv_available():
        raise ImportError(
            "the spconv backend needs the optional package spconv: pip install spconv "
            "(2.3.8 CPU; use spconv-cu12x for CUDA), or use scene3d.sparse.SubMConv3d etc."
        )
    import spconv.pytorch as spconv_pytorch

    return spconv_pytorch


def enable_spconv_cpu_backward() -> None:
    """Make spconv's CPU backward run without CUDA (idempotent; no-op with CUDA).

    spconv 2.3.8 asks ``torch.cuda.current_stream()`` in backward even for CPU tensors;
    without CUDA, ``spconv.pytorch.cppcore.get_current_stream`` and
    ``spconv.pytorch.ops.get_current_stream`` are replaced by ``lambda: 0``.
    """
    _spconv()
    if torch.cuda.is_available():
        return
    import spconv.pytorch.cppcore as cppcore
    import spconv.pytorch.ops as ops

    cppcore.get_current_stream = _zero_stream
    ops.get_current_stream = _zero_stream


def _zero_stream() -> int:
    return 0


def weight_to_spconv(weight: Tensor, kernel_size: int) -> Tensor:
    """Our ``(k**3, C_in, C_out)`` weight as spconv's ``(C_out, k, k, k, C_in)``."""
    _, c_in, c_out = weight.shape
    k = kernel_size
    return weight.reshape(k, k, k, c_in, c_out).permute(4, 0, 1, 2, 3).contiguous()


def weight_from_spconv(weight: Tensor) -> Tensor:
    """spconv's ``(C_out, k, k, k, C_in)`` weight as our ``(k**3, C_in, C_out)``."""
    c_out, c_in = weight.shape[0], weight.shape[-1]
    return weight.permute(1, 2, 3, 4, 0).reshape(-1, c_in, c_out)


class _SpconvState:
    """Per-network spconv state kept in the ``CoordinateManager`` (no global state)."""

    def __init__(self, x: SparseTensor):
        coords = x.manager.coords(min(x.manager.strides()))
        if coords.shape[0] > 0:
            lo = coords[:, 1:].amin(0)
            hi = coords[:, 1:].amax(0)
        else:
            lo = hi = torch.zeros(3, dtype=torch.int32, device=coords.device)
        self.origin = torch.div(lo, _GRID_ALIGN, rounding_mode="floor") * _GRID_ALIGN  # (3,)
        extent = (hi - self.origin + 1).tolist()
        self.shape1 = [-(-e // _GRID_ALIGN) * _GRID_ALIGN for e in extent]
        self.indice_dict: dict[str, Any] = {}
        self.indices: dict[int, Tensor] = {}

    def tensor(self, x: SparseTensor) -> Any:
        """``spconv.SparseConvTensor`` of ``x`` (indices built once per stride)."""
        if x.stride > _GRID_ALIGN:
            raise SparseTensorError(f"the spconv backend supports strides up to {_GRID_ALIGN}")
        idx = self.indices.get(x.stride)
        if idx is None:
            idx = x.coords.clone()
            idx[:, 1:] = torch.div(idx[:, 1:] - self.origin, x.stride, rounding_mode="floor")
            self.indices[x.stride] = idx
        shape = [s // x.stride for s in self.shape1]
        return _spconv().SparseConvTensor(
            x.features.contiguous(), idx, shape, x.batch_size, indice_dict=self.indice_dict
        )

    def coords_of(self, indices: Tensor, stride: int) -> Tensor:
        """Our ``(N, 4)`` int32 coordinates of spconv indices at ``stride``."""
        c = indices.clone()
        c[:, 1:] = c[:, 1:] * stride + self.origin
        return c


def _state(x: SparseTensor) -> _SpconvState:
    cache = x.manager.backend_cache
    if _CACHE_KEY not in cache:
        cache[_CACHE_KEY] = _SpconvState(x)
    return cache[_CACHE_KEY]


def _record(state: _SpconvState, out: Any) -> None:
    state.indice_dict.update(out.indice_dict)


class SpconvSubMConv3d(SubMConv3d):
    """``SubMConv3d`` computed by ``spconv.SubMConv3d`` (same weight, same sites)."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N, C_in) -> (N, C_out)`` at ``x.stride``."""
        enable_spconv_cpu_backward()
        spc = _spconv()
        state = _state(x)
        key = f"subm_s{x.stride}_k{self.kernel_size}_d{self.dilation}"
        inner = spc.SubMConv3d(self.in_channels, self.out_channels, self.kernel_size,
                               dilation=self.dilation, padding=self.dilation * (self.kernel_size // 2),
                               bias=False, indice_key=key).to(x.device)
        out = inner._conv_forward(self.training, state.tensor(x),
                                  weight_to_spconv(self.weight, self.kernel_size), self.bias)
        _record(state, out)
        return x.replace_features(out.features)


class SpconvSparseConv3d(SparseConv3d):
    """``SparseConv3d`` computed by ``spconv.SparseConv3d`` (``kernel_size == stride``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._check_supported()

    def _check_supported(self) -> None:
        if self.kernel_size != self.stride or self.dilation != 1:
            raise ValueError(
                "SpconvSparseConv3d needs kernel_size == stride and dilation == 1 (spconv's "
                f"strided output sites differ from ours otherwise), got kernel_size="
                f"{self.kernel_size}, stride={self.stride}, dilation={self.dilation}"
            )

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N_in, C_in)`` at stride ``s`` -> ``(N_out, C_out)`` at ``s * stride``."""
        self._check_supported()
        enable_spconv_cpu_backward()
        spc = _spconv()
        state = _state(x)
        out_stride = x.stride * self.stride
        key = f"down_s{x.stride}_k{self.kernel_size}"
        inner = spc.SparseConv3d(self.in_channels, self.out_channels, self.kernel_size,
                                 stride=self.stride, bias=False, indice_key=key).to(x.device)
        out = inner._conv_forward(self.training, state.tensor(x),
                                  weight_to_spconv(self.weight, self.kernel_size), self.bias)
        _record(state, out)
        feats = out.features
        if out_stride not in x.manager.strides():
            # adopt spconv's output order as this network's coordinate set at out_stride
            SparseTensor(feats, state.coords_of(out.indices, out_stride), stride=out_stride,
                         manager=x.manager)
            state.indices[out_stride] = out.indices
        elif not torch.equal(state.indices.get(out_stride, out.indices), out.indices):
            raise SparseTensorError(
                f"stride {out_stride} was built by another backend in a different order; "
                "use spconv modules for the whole network"
            )
        else:
            state.indices[out_stride] = out.indices
        return SparseTensor._derived(feats, out_stride, x.manager)


class SpconvSparseConvTranspose3d(SparseConvTranspose3d):
    """``SparseConvTranspose3d`` computed by ``spconv.SparseInverseConv3d``.

    Must undo a ``SpconvSparseConv3d`` with the same kernel size in the same network.
    """

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N_in, C_in)`` at stride ``s`` -> ``(N_out, C_out)`` at ``s / stride``."""
        enable_spconv_cpu_backward()
        spc = _spconv()
        state = _state(x)
        out_stride = self._out_stride(x)
        key = f"down_s{out_stride}_k{self.kernel_size}"
        if key not in state.indice_dict:
            raise SparseTensorError(
                f"SpconvSparseConvTranspose3d: no SpconvSparseConv3d(kernel_size="
                f"{self.kernel_size}) went from stride {out_stride} to {x.stride} in this network"
            )
        inner = spc.SparseInverseConv3d(self.in_channels, self.out_channels, self.kernel_size,
                                        indice_key=key, bias=False).to(x.device)
        out = inner._conv_forward(self.training, state.tensor(x),
                                  weight_to_spconv(self.weight, self.kernel_size), self.bias)
        return SparseTensor._derived(out.features, out_stride, x.manager)


SPCONV_MODULES: dict[type, type] = {
    SubMConv3d: SpconvSubMConv3d,
    SparseConv3d: SpconvSparseConv3d,
    SparseConvTranspose3d: SpconvSparseConvTranspose3d,
}
"""Our convolution class -> its spconv-backed subclass."""


def to_spconv(module: torch.nn.Module) -> torch.nn.Module:
    """Swap every convolution of ``module`` (in place) for its spconv-backed twin.

    Parameters are shared, so the weights and the state dict are unchanged.

    Args:
        module: any network built from ``scene3d.sparse`` layers (e.g. ``SparseUNet``).
    Returns:
        ``module``.
    """
    _spconv()
    for name, child in list(module.named_children()):
        twin = SPCONV_MODULES.get(type(child))
        if twin is not None:
            swapped = twin.__new__(twin)
            swapped.__dict__ = child.__dict__  # same parameters, buffers and hyper-parameters
            setattr(module, name, swapped)
        else:
            to_spconv(child)
    return module
