"""Named colours shared by the synthetic generator (to paint) and the scene graph (to name)."""

from __future__ import annotations

import numpy as np

#: Colour name -> sRGB uint8.
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "white": (235, 235, 230), "black": (35, 35, 38), "gray": (128, 128, 132), "brown": (120, 80, 45),
    "beige": (215, 195, 160), "red": (190, 40, 40), "blue": (45, 75, 175), "green": (60, 140, 70),
    "yellow": (225, 200, 60), "orange": (225, 125, 45), "pink": (225, 150, 175), "purple": (120, 70, 150),
}
_NAMES = list(NAMED_COLORS)
_TABLE = np.array([NAMED_COLORS[n] for n in _NAMES], dtype=np.float64)


def nearest_color_names(rgb: np.ndarray) -> list[str]:
    """Names of the nearest named colours of (N, 3) uint8 colours (Euclidean in sRGB)."""
    rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    d = ((rgb[:, None, :] - _TABLE[None]) ** 2).sum(-1)
    return [_NAMES[i] for i in d.argmin(axis=1)]
