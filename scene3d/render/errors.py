"""Typed errors raised by :mod:`scene3d.render` on bad input."""

from __future__ import annotations

import torch

from scene3d.errors import Scene3DError

__all__ = ["RenderInputError", "check_finite", "check_shape"]


class RenderInputError(Scene3DError, ValueError):
    """Bad input to a rendering function: wrong shape, dtype, device or non-finite values.

    The message names the argument, what was expected, what was given and, where
    there is one, the fix.
    """


def check_shape(name: str, tensor: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    """Raise :class:`RenderInputError` unless ``tensor`` has ``shape`` (``None`` = any size).

    Args:
        name: argument name used in the message.
        tensor: the tensor to check.
        shape: expected shape; ``None`` entries match any size.
    """
    if not isinstance(tensor, torch.Tensor):
        raise RenderInputError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != len(shape) or any(
        want is not None and got != want for got, want in zip(tensor.shape, shape)
    ):
        want_str = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise RenderInputError(f"{name}: expected shape {want_str}, got {tuple(tensor.shape)}")


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise :class:`RenderInputError` if a floating ``tensor`` holds NaN or +-inf.

    Args:
        name: argument name used in the message.
        tensor: the tensor to check (integer tensors always pass).
    """
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise RenderInputError(f"{name}: {bad} non-finite value(s) (NaN or inf); clean the input first")
