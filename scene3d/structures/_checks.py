"""Small validators used by the structures' ``__post_init__`` methods."""

from __future__ import annotations

import numpy as np

from scene3d.errors import SceneValidationError


def check_array(
    name: str,
    value: object,
    dtype: np.dtype | type,
    shape: tuple[int | None, ...],
    *,
    finite: bool = False,
) -> np.ndarray:
    """Return ``value`` if it is an ndarray of ``dtype`` and ``shape``.

    Args:
        name: the field name used in the error message.
        value: the candidate array.
        dtype: the exact dtype required (no silent casts: a float64 array where
            float32 is required is an error naming the fix).
        shape: required shape; ``None`` entries match any length.
        finite: also require every element to be finite.

    Raises:
        SceneValidationError: naming the field, what was found and the fix.
    """
    if not isinstance(value, np.ndarray):
        raise SceneValidationError(
            f"{name} must be a numpy array, got {type(value).__name__}"
        )
    want = np.dtype(dtype)
    if value.dtype != want:
        raise SceneValidationError(
            f"{name} must have dtype {want}, got {value.dtype} "
            f"(convert with .astype(np.{want.name}))"
        )
    if value.ndim != len(shape) or any(
        s is not None and s != v for s, v in zip(shape, value.shape)
    ):
        pretty = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise SceneValidationError(f"{name} must have shape {pretty}, got {value.shape}")
    if finite and value.size and not np.isfinite(value).all():
        bad = int((~np.isfinite(value)).any(axis=-1).sum()) if value.ndim > 1 else int(
            (~np.isfinite(value)).sum()
        )
        raise SceneValidationError(f"{name} has {bad} non-finite (NaN/inf) entries")
    return value


def check_rigid(name: str, matrix: np.ndarray, atol: float = 1e-4) -> None:
    """Require a 4x4 float64 rigid transform (orthonormal rotation, last row 0 0 0 1)."""
    check_array(name, matrix, np.float64, (4, 4), finite=True)
    rot = matrix[:3, :3]
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=atol):
        raise SceneValidationError(f"{name} last row must be [0, 0, 0, 1], got {matrix[3]}")
    if not np.allclose(rot @ rot.T, np.eye(3), atol=atol) or np.linalg.det(rot) < 0:
        raise SceneValidationError(f"{name} rotation part is not a proper rotation")
