"""PNG/JPEG image files for frames: colour, 16-bit depth in millimetres, 16-bit instance ids."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from scene3d.errors import SceneFormatError
from scene3d.io.atomic import atomic_write_bytes

#: Largest depth (metres) a uint16 millimetre PNG can hold.
MAX_DEPTH_M = 65.535


def depth_from_mm(mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 millimetres -> (H, W) float32 metres (0 stays 0 = invalid)."""
    return mm.astype(np.float32) / np.float32(1000.0)


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """(H, W) float32 metres -> (H, W) uint16 millimetres, rounded to nearest.

    Raises:
        ValueError: a depth is negative or beyond :data:`MAX_DEPTH_M`.
    """
    if depth.size and (depth.min() < 0 or depth.max() > MAX_DEPTH_M):
        raise ValueError(f"depth must lie in [0, {MAX_DEPTH_M}] m to be stored as uint16 millimetres")
    return np.round(depth.astype(np.float64) * 1000.0).astype(np.uint16)


def read_image(path: Path, *, mode: str) -> np.ndarray:
    """Read an image file.

    Args:
        path: PNG or JPEG.
        mode: ``"rgb"`` -> (H, W, 3) uint8; ``"u16"`` -> (H, W) uint16 (a 16-bit PNG).

    Raises:
        SceneFormatError: missing, undecodable, or of the wrong kind.
    """
    if not path.is_file():
        raise SceneFormatError(path, "image file not found")
    try:
        with Image.open(path) as img:
            img.load()
            if mode == "rgb":
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
            if img.mode not in ("I;16", "I;16B", "I;16L", "I"):
                raise SceneFormatError(path, f"expected a 16-bit single-channel PNG, got mode {img.mode}")
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SceneFormatError(path, f"cannot decode image ({exc})") from None
    if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
        raise SceneFormatError(path, "16-bit image has values outside [0, 65535]")
    return arr.astype(np.uint16)


def write_png(path: Path, array: np.ndarray) -> None:
    """Write (H, W, 3) uint8 or (H, W) uint16 as a lossless PNG, atomically."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
