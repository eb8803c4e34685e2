"""Named colours shared by the synthetic generator (to paint) and the scene graph (to name)."""

from __future__ import annotations

import numpy as np

#: Colour name -> sRGB uint8.
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "white": (235, 235, 230), "black": (35, 35, 38), "gray": (128, 128, 132), "brown": (120, 80, 45),
    "beige": (215, 195, 160), "red": (190, 40, 40), "blue": (45, 75, 175), "green": (60, 140, 70),
    "yellow": (225, 200, 60), "orange": (225, 125, 45), "pink": (225, 150, 175), "purple": (120, 70, 150),
}


#: Hue ranges (degrees, [start, end)) of the chromatic names for measured colours; hues in the
#: gaps between them are ambiguous (no name). Red wraps around 0.
_HUES = (("red", 345.0, 12.0), ("orange", 18.0, 40.0), ("yellow", 48.0, 68.0), ("green", 80.0, 165.0),
         ("blue", 185.0, 255.0), ("purple", 265.0, 295.0), ("pink", 305.0, 338.0))


def measured_color_names(rgb: np.ndarray) -> list[str | None]:
    """Names of measured mean colours (N, 3) uint8, or None where the colour is ambiguous.

    Scanned colours are dim and washed out by lighting, so the nearest palette entry
    (Euclidean in sRGB) calls most of them gray. Here the colour is named from
    hue, saturation and value with a dead band around every boundary: two objects with
    different names differ visibly, and a colour near a boundary gets no name.

    * saturation < 0.15: white (value > 0.72), gray (0.3-0.62), black (< 0.2); else None;
    * saturation > 0.22, orange-red hues (5-45 degrees): brown (value < 0.5), beige (value > 0.6,
      saturation < 0.42), orange (saturation >= 0.5, value >= 0.6), else None;
    * saturation > 0.22, other hues: the hue's name in :data:`_HUES`; saturation 0.15-0.22: None.
    """
    x = np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255.0
    hi, lo = x.max(axis=1), x.min(axis=1)
    chroma = hi - lo
    sat = np.where(hi > 0, chroma / np.maximum(hi, 1e-9), 0.0)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    safe = np.maximum(chroma, 1e-9)
    hue = np.where(hi == r, ((g - b) / safe) % 6, np.where(hi == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    out: list[str | None] = []
    for h, s, v in zip(hue, sat, hi):
        name = None
        if s < 0.15:
            name = "white" if v > 0.72 else "gray" if 0.3 < v < 0.62 else "black" if v < 0.2 else None
        elif s > 0.22:
            if 5.0 <= h <= 45.0 and (v < 0.6 or s < 0.5):
                name = "brown" if v < 0.5 else "beige" if v > 0.6 and s < 0.42 else None
            else:
                for hue_name, start, end in _HUES:
                    if (start <= h < end) if start < end else (h >= start or h < end):
                        name = hue_name
                        break
        out.append(name)
    return out
