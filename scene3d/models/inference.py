"""Faster inference of frozen modules on one CPU thread.

* :class:`Traced`: a module run through TorchScript traces of itself (made on first use, one
  per pattern of inputs). Same outputs as the module; it skips the Python work of each call,
  which dominates small inputs (one sentence, a 50-object scene).
* :func:`int8_linears`: ``nn.Linear`` layers with int8 weights (one scale per output channel)
  whose inputs are quantised on each call (PyTorch's dynamic quantisation). Outputs change
  slightly (all-MiniLM-L6-v2's sentence embeddings keep a cosine of about 0.97 with the float32
  ones), so a model that uses it must be measured with it (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class _Call(nn.Module):
    """``module`` called with the tensors of one input pattern (Nones and keyword names fixed)."""

    def __init__(self, module: nn.Module, n_args: int, names: tuple[str, ...], present: tuple[bool, ...],
                 to_tuple: Callable[[Any], tuple[torch.Tensor, ...]]):
        super().__init__()
        self.module, self.n_args, self.names, self.present, self.to_tuple = module, n_args, names, present, to_tuple

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        given = iter(tensors)
        values = [next(given) if p else None for p in self.present]
        return self.to_tuple(self.module(*values[:self.n_args], **dict(zip(self.names, values[self.n_args:]))))


class Traced:
    """Calls ``module`` (in eval mode, without gradients) through TorchScript traces of itself.

    Each pattern of arguments (their count, keyword names, which are None, each tensor's rank,
    dtype and device) is traced once, on first use; sizes may vary between calls (the traces
    read them from the inputs). Arguments must be tensors or None. Calls with gradients
    enabled, or with ``module`` in training mode, run it as it is (and return the same kind
    of output). A plain object, not a
    submodule: keeping one on a module adds nothing to its ``state_dict``. Its other
    attributes are the module's (``cfg``, ``parameters()``...). Move ``module`` to its device
    before the first call.

    Args:
        module: the module; its ``forward`` must not branch on the values of its inputs
            (branches on which inputs are given, on ranks or on settings are fine).
        to_tuple: the module's output -> a tuple of tensors (what a trace can return).
        from_tuple: that tuple -> the module's output.
    """

    def __init__(self, module: nn.Module, to_tuple: Callable[[Any], tuple[torch.Tensor, ...]],
                 from_tuple: Callable[[tuple[torch.Tensor, ...]], Any]):
        self.module, self.to_tuple, self.from_tuple = module, to_tuple, from_tuple
        self._traces: dict[tuple, Callable] = {}

    def __call__(self, *args: torch.Tensor | None, **kwargs: torch.Tensor | None) -> Any:
        if self.module.training or torch.is_grad_enabled():
            return self.from_tuple(self.to_tuple(self.module(*args, **kwargs)))
        names = tuple(sorted(kwargs))
        values = (*args, *(kwargs[k] for k in names))
        key = (len(args), names, tuple(None if v is None else (v.dim(), v.dtype, v.device) for v in values))
        trace = self._traces.get(key)
        if trace is None:
            call = _Call(self.module, len(args), names, tuple(v is not None for v in values), self.to_tuple)
            with warnings.catch_warnings():   # torch.jit announces torch.export; the trace stays exact
                warnings.simplefilter("ignore")
                trace = torch.jit.trace(call, tuple(v for v in values if v is not None), check_trace=False)
            self._traces[key] = trace
        return self.from_tuple(trace(*(v for v in values if v is not None)))

    def __getstate__(self) -> dict:
        """Pickled and copied without its traces (they are made again on first use)."""
        return {**self.__dict__, "_traces": {}}

    def __getattr__(self, name: str) -> Any:
        if name == "module":   # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.module, name)


def int8_linears(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (frozen, for inference) whose ``nn.Linear`` layers compute in int8.

    Shapes and units are unchanged. The copy runs on the CPU only (int8 kernels: fbgemm /
    x86); ``module`` itself is left as it is.

    Raises:
        ValueError: ``module`` has parameters on a device other than the CPU.
    """
    if any(p.device.type != "cpu" for p in module.parameters()):
        raise ValueError("int8 inference runs on the CPU only: move the module there first")
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():   # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(module).eval(), {nn.Linear: per_channel_dynamic_qconfig})


__all__ = ["Traced", "int8_linears"]
