"""Named colours and materials: the attributes language will talk about."""

from __future__ import annotations

import numpy as np

from scene3d.colors import NAMED_COLORS

#: Colour name -> sRGB uint8 (the names the scene graph uses too).
COLORS = NAMED_COLORS

#: Fixed colours of secondary part roles (legs, screens, glass, ...).
ROLE_COLORS: dict[str, tuple[int, int, int]] = {
    "metal": (170, 170, 175), "dark": (50, 45, 40), "white": (240, 240, 238), "screen": (20, 22, 28),
    "glass": (170, 200, 215), "foliage": (50, 120, 50), "soil": (80, 60, 40), "wood": (140, 100, 60),
    "fabric": (200, 200, 210), "ceiling": (245, 245, 245), "frame": (90, 70, 50),
}


def jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int = 12) -> np.ndarray:
    """(3,) uint8 colour varied by up to ``amount`` per channel (reproducible from ``rng``)."""
    return np.clip(np.array(rgb) + rng.integers(-amount, amount + 1, size=3), 0, 255).astype(np.uint8)
