"""Mixed precision of the training loops: which dtype the networks' forward passes run in.

``precision``: ``"auto"`` (bf16 autocast on a CUDA device that supports bf16 natively, fp32
otherwise: on the CPU ``auto`` is always fp32, so CPU runs stay bit-identical), ``"fp32"``,
``"bf16"`` (autocast, no loss scaling: bf16 has fp32's range) or ``"fp16"`` (autocast with a
``GradScaler``, whose state goes into every checkpoint). bf16 and fp16 also run on the CPU when
asked for explicitly (CPU autocast; mostly slower than fp32 there: for tests and comparisons).

What autocast covers, and what stays fp32 (the numerically sensitive parts):

* only the network's forward pass runs under autocast (:class:`AutocastForward`), and its
  floating outputs are cast back to fp32 before anything else reads them;
* so the losses (cosines, softmax / cross-entropy over classes and anchors), the ray marching
  (sampling, trilinear field reads, the transmittance ``cumprod`` of compositing), the point
  projection and the metric sums all run in fp32, outside autocast;
* inside the network, the sparse convolutions do their per-offset GEMMs in the autocast dtype
  but accumulate the offsets' partial sums (``index_add_``) and the gradients in fp32
  (:func:`scene3d.sparse.sparse_conv`); batch norms and pooling see fp32 features; dense
  layers (heads, the grounding transformer's attention and MLPs) follow torch's autocast rules
  (matmuls in the low dtype, softmax and norms in fp32).
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from scene3d.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""The values of a ``precision`` option."""

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A resolved precision on one kind of device.

    Attributes:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (never ``"auto"``).
        device_type: ``"cpu"`` or ``"cuda"``.
    """

    name: str
    device_type: str

    @property
    def mixed(self) -> bool:
        """Whether forward passes run under autocast."""
        return self.name != "fp32"

    def autocast(self) -> AbstractContextManager:
        """The autocast context of a forward pass (a no-op for fp32)."""
        if not self.mixed:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=_DTYPES[self.name])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A fresh loss scaler for fp16, else None."""
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None


def resolve_precision(spec: str, device: torch.device | str) -> Precision:
    """The precision that ``spec`` (one of :data:`PRECISIONS`) means on ``device``.

    Raises:
        ConfigError: an unknown value, or bf16 on a GPU without native bf16 (pre-Ampere: use fp16).
    """
    name = str(spec).strip().lower()
    kind = torch.device(device).type
    if name not in PRECISIONS:
        raise ConfigError(f"precision={spec}: expected one of {', '.join(PRECISIONS)}")
    cuda_bf16 = kind == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    if name == "auto":
        name = "bf16" if cuda_bf16 else "fp32"
    if name == "bf16" and kind == "cuda" and not cuda_bf16:
        raise ConfigError(f"precision=bf16: {torch.cuda.get_device_name(torch.device(device))} has no native bf16; "
                          "use precision=fp16 (loss-scaled) or fp32")
    return Precision(name, kind)


def to_float32(value):
    """``value`` with every floating tensor in it cast to fp32: tensors, tuples (named ones
    too), lists, dicts and dataclasses are walked; anything else is returned as it is."""
    if torch.is_tensor(value):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: to_float32(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, tuple):
        items = [to_float32(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [to_float32(v) for v in value]
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    return value


class AutocastForward(nn.Module):
    """Runs ``module``'s forward under ``precision``'s autocast and returns its outputs in fp32,
    so that what reads them (losses, rendering) stays out of autocast. Holds no state of its own:
    checkpoints keep saving the wrapped model.

    Args:
        module: the network (or its DistributedDataParallel wrapper).
        precision: a mixed precision (``precision.mixed``).
    """

    def __init__(self, module: nn.Module, precision: Precision):
        super().__init__()
        self.module, self.precision = module, precision

    def forward(self, *args, **kwargs):
        with self.precision.autocast():
            out = self.module(*args, **kwargs)
        return to_float32(out)


def for_training(module: nn.Module, precision: Precision) -> nn.Module:
    """What the loop calls: ``module`` itself in fp32, else an :class:`AutocastForward` around it."""
    return AutocastForward(module, precision) if precision.mixed else module
