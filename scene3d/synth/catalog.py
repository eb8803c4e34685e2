"""The object categories of the synthetic scenes: sizes, placement and part meshes.

Every builder takes the object's size ``(dx, dy, dz)`` (depth along its front
axis, width, height; metres) and returns its parts in the local frame of
:mod:`scene3d.synth.parts` (front = +x). ``surfaces`` are the heights, as
fractions of ``dz``, of the horizontal faces small objects can stand on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scene3d.synth.parts import Part, box, cone, cylinder, ellipsoid, legs

Size = tuple[float, float, float]


@dataclass(frozen=True)
class Category:
    """A class of objects.

    Attributes:
        name: the class label.
        size_min / size_max: (dx, dy, dz) ranges in metres (dx along the front).
        build: size -> parts.
        placement: ``"wall"`` (back against a wall, facing in), ``"floor"`` (free
            standing), ``"on"`` (supported by another object), ``"wall_mounted"``.
        has_front: whether the yaw is meaningful (chairs, beds, TVs, ...).
        colors / materials: names it may take.
        surfaces: support-surface heights as fractions of dz (1.0 = the top).
    """

    name: str
    size_min: Size
    size_max: Size
    build: Callable[[Size], list[Part]]
    placement: str
    has_front: bool
    colors: tuple[str, ...]
    materials: tuple[str, ...]
    surfaces: tuple[float, ...] = ()

    def sample_size(self, rng: np.random.Generator) -> np.ndarray:
        """(3,) float64 size, uniform in the class range, rounded to millimetres."""
        lo, hi = np.array(self.size_min), np.array(self.size_max)
        return np.round(lo + (hi - lo) * rng.random(3), 3)


# ------------------------------------------------------------------ builders
def _bed(s: Size) -> list[Part]:
    dx, dy, dz = s
    frame_h, mat_h = 0.25, 0.2
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, frame_h), "wood"),
        box((-dx / 2 + 0.05, -dy / 2 + 0.03, frame_h), (dx / 2 - 0.02, dy / 2 - 0.03, frame_h + mat_h), "main"),
        box((-dx / 2, -dy / 2, 0.0), (-dx / 2 + 0.06, dy / 2, dz), "wood"),  # headboard at the back
        box((-dx / 2 + 0.08, -dy / 2 + 0.1, frame_h + mat_h), (-dx / 2 + 0.45, -0.05, frame_h + mat_h + 0.12), "white"),
        box((-dx / 2 + 0.08, 0.05, frame_h + mat_h), (-dx / 2 + 0.45, dy / 2 - 0.1, frame_h + mat_h + 0.12), "white"),
    ]


def _drawers(s: Size, n: int, role: str = "dark") -> list[Part]:
    dx, dy, dz = s
    parts = [box((-dx / 2, -dy / 2, 0.05), (dx / 2 - 0.01, dy / 2, dz), "main"),
             box((-dx / 2 + 0.02, -dy / 2 + 0.02, 0.0), (dx / 2 - 0.05, dy / 2 - 0.02, 0.05), "dark")]
    h = (dz - 0.1) / n
    for i in range(n):
        z0 = 0.08 + i * h
        parts.append(box((dx / 2 - 0.01, -dy / 2 + 0.03, z0), (dx / 2, dy / 2 - 0.03, z0 + h - 0.03), "main"))
        parts.append(box((dx / 2, -0.06, z0 + h / 2 - 0.03), (dx / 2 + 0.015, 0.06, z0 + h / 2), role))
    return parts


def _nightstand(s: Size) -> list[Part]:
    return _drawers(s, 2)


def _dresser(s: Size) -> list[Part]:
    return _drawers(s, 4)


def _doors_cabinet(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.02, dy / 2, dz), "main"),
        box((dx / 2 - 0.02, -dy / 2 + 0.01, 0.02), (dx / 2, -0.005, dz - 0.02), "main"),
        box((dx / 2 - 0.02, 0.005, 0.02), (dx / 2, dy / 2 - 0.01, dz - 0.02), "main"),
        box((dx / 2, -0.04, dz * 0.45), (dx / 2 + 0.02, -0.02, dz * 0.6), "metal"),
        box((dx / 2, 0.02, dz * 0.45), (dx / 2 + 0.02, 0.04, dz * 0.6), "metal"),
    ]


def _table(s: Size, top: float = 0.04, leg: float = 0.06) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, dz - top), (dx / 2, dy / 2, dz), "main")] + legs(dx, dy, dz - top, leg, 0.03, "main")


def _coffee_table(s: Size) -> list[Part]:
    dx, dy, dz = s
    return _table(s, 0.04, 0.05) + [box((-dx / 2 + 0.06, -dy / 2 + 0.06, 0.1), (dx / 2 - 0.06, dy / 2 - 0.06, 0.12), "main")]


def _desk(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, dz - 0.03), (dx / 2, dy / 2, dz), "main"),
        box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.05, -dy / 2 + 0.03, dz - 0.03), "main"),
        box((-dx / 2, dy / 2 - 0.4, 0.0), (dx / 2 - 0.05, dy / 2, dz - 0.03), "main"),  # drawer unit
        box((dx / 2 - 0.05, dy / 2 - 0.38, 0.4), (dx / 2 - 0.04, dy / 2 - 0.02, dz - 0.08), "dark"),
        box((-dx / 2, -dy / 2 + 0.03, dz - 0.4), (-dx / 2 + 0.02, dy / 2 - 0.4, dz - 0.03), "main"),  # modesty panel
    ]


def _chair(s: Size) -> list[Part]:
    dx, dy, dz = s
    seat = 0.45
    return legs(dx, dy, seat - 0.04, 0.035, 0.02, "wood") + [
        box((-dx / 2, -dy / 2, seat - 0.04), (dx / 2, dy / 2, seat), "main"),
        box((-dx / 2, -dy / 2, seat), (-dx / 2 + 0.04, dy / 2, dz), "main"),  # back rest at the back (-x)
    ]


def _office_chair(s: Size) -> list[Part]:
    dx, dy, dz = s
    seat = 0.48
    parts = [cylinder((0.0, 0.0), 0.05, seat - 0.06, 0.025, "metal")]
    for a in np.linspace(0, 2 * np.pi, 5, endpoint=False):
        c, si = np.cos(a), np.sin(a)
        r = min(dx, dy) / 2 - 0.03
        parts.append(cylinder((c * r * 0.5, si * r * 0.5), 0.0, 0.05, r * 0.5, "dark", sections=8))
    parts += [
        box((-dx / 2 + 0.05, -dy / 2 + 0.03, seat - 0.06), (dx / 2 - 0.03, dy / 2 - 0.03, seat), "main"),
        box((-dx / 2 + 0.02, -dy / 2 + 0.06, seat + 0.05), (-dx / 2 + 0.07, dy / 2 - 0.06, dz), "main"),
        box((-dx / 2 + 0.05, -0.02, seat), (-dx / 2 + 0.07, 0.02, seat + 0.05), "metal"),
    ]
    return parts


def _sofa(s: Size) -> list[Part]:
    dx, dy, dz = s
    arm = 0.18
    seat = 0.42
    parts = [
        box((-dx / 2, -dy / 2, 0.05), (dx / 2, dy / 2, seat - 0.12), "main"),
        box((-dx / 2, -dy / 2, 0.05), (-dx / 2 + 0.22, dy / 2, dz), "main"),
        box((-dx / 2, -dy / 2, 0.05), (dx / 2, -dy / 2 + arm, seat + 0.18), "main"),
        box((-dx / 2, dy / 2 - arm, 0.05), (dx / 2, dy / 2, seat + 0.18), "main"),
    ]
    n = max(1, int(round((dy - 2 * arm) / 0.65)))
    w = (dy - 2 * arm) / n
    for i in range(n):
        y0 = -dy / 2 + arm + i * w
        parts.append(box((-dx / 2 + 0.22, y0 + 0.01, seat - 0.12), (dx / 2 - 0.02, y0 + w - 0.01, seat), "fabric"))
    return parts + legs(dx, dy, 0.05, 0.05, 0.02, "dark")


def _tv_stand(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, 0.05), (dx / 2, dy / 2, 0.08), "main"),
        box((-dx / 2, -dy / 2, dz - 0.03), (dx / 2, dy / 2, dz), "main"),
        box((-dx / 2, -dy / 2, 0.08), (dx / 2, -dy / 2 + 0.03, dz - 0.03), "main"),
        box((-dx / 2, dy / 2 - 0.03, 0.08), (dx / 2, dy / 2, dz - 0.03), "main"),
        box((-dx / 2, -dy / 2 + 0.03, 0.08), (-dx / 2 + 0.02, dy / 2 - 0.03, dz - 0.03), "dark"),
        box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, 0.05), "dark"),
    ]


def _tv(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-0.08, -0.12, 0.0), (0.08, 0.12, 0.02), "dark"),
        box((-0.03, -0.03, 0.02), (0.0, 0.03, 0.12), "dark"),
        box((-0.03, -dy / 2, 0.1), (0.0, dy / 2, dz), "dark"),
        box((0.0, -dy / 2 + 0.02, 0.12), (0.005, dy / 2 - 0.02, dz - 0.02), "screen"),
    ]


def _wall_tv(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.005, dy / 2, dz), "dark"),
            box((dx / 2 - 0.005, -dy / 2 + 0.02, 0.02), (dx / 2, dy / 2 - 0.02, dz - 0.02), "screen")]


BOOKSHELF_LEVELS = (0.02, 0.25, 0.5, 0.75)


def _bookshelf(s: Size) -> list[Part]:
    dx, dy, dz = s
    parts = [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2, -dy / 2 + 0.02, dz), "main"),
        box((-dx / 2, dy / 2 - 0.02, 0.0), (dx / 2, dy / 2, dz), "main"),
        box((-dx / 2, -dy / 2 + 0.02, 0.0), (-dx / 2 + 0.01, dy / 2 - 0.02, dz), "main"),
    ]
    for f in BOOKSHELF_LEVELS + (1.0,):
        z = f * dz
        parts.append(box((-dx / 2, -dy / 2 + 0.02, z - 0.02), (dx / 2, dy / 2 - 0.02, z), "main"))
    return parts


def _counter(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.06, dy / 2, 0.1), "dark"),
        box((-dx / 2, -dy / 2, 0.1), (dx / 2 - 0.04, dy / 2, dz - 0.04), "main"),
        box((-dx / 2, -dy / 2, dz - 0.04), (dx / 2, dy / 2, dz), "white"),
        box((dx / 2 - 0.04, -dy / 2 + 0.05, dz - 0.15), (dx / 2 - 0.02, dy / 2 - 0.05, dz - 0.13), "metal"),
    ]


def _fridge(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.02, dy / 2, dz), "main"),
        box((dx / 2 - 0.02, -dy / 2, dz * 0.62), (dx / 2, dy / 2, dz), "main"),
        box((dx / 2 - 0.02, -dy / 2, 0.0), (dx / 2, dy / 2, dz * 0.61), "main"),
        box((dx / 2, dy / 2 - 0.08, dz * 0.3), (dx / 2 + 0.03, dy / 2 - 0.06, dz * 0.55), "metal"),
        box((dx / 2, dy / 2 - 0.08, dz * 0.67), (dx / 2 + 0.03, dy / 2 - 0.06, dz * 0.85), "metal"),
    ]


def _stove(s: Size) -> list[Part]:
    dx, dy, dz = s
    parts = [box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz), "main"),
             box((dx / 2, -dy / 2 + 0.05, 0.1), (dx / 2 + 0.01, dy / 2 - 0.05, dz * 0.6), "screen")]
    for sx in (-0.25, 0.25):
        for sy in (-0.25, 0.25):
            parts.append(cylinder((sx * dx, sy * dy), dz, dz + 0.015, min(dx, dy) * 0.12, "dark"))
    return parts


def _vanity(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz - 0.1), "main"),
        box((-dx / 2, -dy / 2, dz - 0.1), (dx / 2, dy / 2, dz - 0.06), "white"),
        cylinder((0.02, 0.0), dz - 0.06, dz, min(dx, dy) * 0.32, "white"),
        box((-dx / 2 + 0.02, -0.015, dz - 0.06), (-dx / 2 + 0.05, 0.015, dz + 0.15), "metal"),
    ]


def _toilet(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [
        cylinder((0.05, 0.0), 0.0, 0.38, min(dx, dy) * 0.42, "main"),
        ellipsoid((0.08, 0.0, 0.38), (dx * 0.38, dy * 0.45, 0.04), "main"),
        box((-dx / 2, -dy / 2, 0.3), (-dx / 2 + 0.18, dy / 2, dz), "main"),
    ]


def _bathtub(s: Size) -> list[Part]:
    dx, dy, dz = s
    t = 0.07
    return [
        box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, 0.1), "main"),
        box((-dx / 2, -dy / 2, 0.1), (-dx / 2 + t, dy / 2, dz), "main"),
        box((dx / 2 - t, -dy / 2, 0.1), (dx / 2, dy / 2, dz), "main"),
        box((-dx / 2 + t, -dy / 2, 0.1), (dx / 2 - t, -dy / 2 + t, dz), "main"),
        box((-dx / 2 + t, dy / 2 - t, 0.1), (dx / 2 - t, dy / 2, dz), "main"),
    ]


def _table_lamp(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    return [cylinder((0, 0), 0.0, 0.03, r * 0.6, "dark"), cylinder((0, 0), 0.03, dz * 0.6, 0.012, "metal"),
            cone((0, 0), dz * 0.55, dz * 0.45, r, "main")]


def _floor_lamp(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    return [cylinder((0, 0), 0.0, 0.03, r * 0.7, "dark"), cylinder((0, 0), 0.03, dz * 0.8, 0.015, "metal"),
            cylinder((0, 0), dz * 0.8, dz, r, "main")]


def _picture(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.005, dy / 2, dz), "frame"),
            box((dx / 2 - 0.005, -dy / 2 + 0.04, 0.04), (dx / 2, dy / 2 - 0.04, dz - 0.04), "main")]


def _mirror(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.005, dy / 2, dz), "main"),
            box((dx / 2 - 0.005, -dy / 2 + 0.03, 0.03), (dx / 2, dy / 2 - 0.03, dz - 0.03), "glass")]


def _clock(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dy, dz) / 2
    mesh = cylinder((0, 0), -dx / 2, dx / 2, r, "main", sections=24).mesh
    mesh.apply_transform(np.array([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, r], [0, 0, 0, 1]], dtype=float))
    return [Part(mesh, "main")]


def _plant(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    pot = dz * 0.35
    return [cylinder((0, 0), 0.0, pot, r * 0.6, "main"), cylinder((0, 0), pot - 0.01, pot, r * 0.55, "soil"),
            ellipsoid((0, 0, pot + (dz - pot) / 2), (r, r, (dz - pot) / 2), "foliage")]


def _book(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz), "main"),
            box((-dx / 2 + 0.005, -dy / 2 - 0.001, 0.004), (dx / 2 + 0.001, dy / 2 - 0.003, dz - 0.004), "white")]


def _cup(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2 * 0.75
    return [cylinder((0, 0), 0.0, dz, r, "main"),
            box((r, -0.005, dz * 0.3), (dx / 2, 0.005, dz * 0.75), "main")]


def _bowl(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    return [cylinder((0, 0), 0.0, dz * 0.3, r * 0.6, "main"), cone((0, 0), dz * 0.3, dz * 0.7, r, "main")]


def _laptop(s: Size) -> list[Part]:
    dx, dy, dz = s
    base = box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, 0.02), "main")
    screen = box((-dx / 2, -dy / 2, 0.02), (-dx / 2 + 0.01, dy / 2, dz), "main")
    panel = box((-dx / 2 + 0.01, -dy / 2 + 0.01, 0.03), (-dx / 2 + 0.012, dy / 2 - 0.01, dz - 0.01), "screen")
    return [base, screen, panel]


def _monitor(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -0.1, 0.0), (dx / 2, 0.1, 0.015), "dark"),
            box((-0.02, -0.02, 0.015), (0.0, 0.02, dz * 0.35), "dark"),
            box((-0.02, -dy / 2, dz * 0.3), (0.0, dy / 2, dz), "main"),
            box((0.0, -dy / 2 + 0.01, dz * 0.3 + 0.01), (0.004, dy / 2 - 0.01, dz - 0.01), "screen")]


def _keyboard(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz * 0.6), "main"),
            box((-dx / 2 + 0.01, -dy / 2 + 0.01, dz * 0.6), (dx / 2 - 0.01, dy / 2 - 0.01, dz), "dark")]


def _vase(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    return [cylinder((0, 0), 0.0, dz * 0.7, r, "main"), cylinder((0, 0), dz * 0.7, dz, r * 0.5, "main")]


def _trash_can(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    return [cylinder((0, 0), 0.0, dz - 0.02, r * 0.92, "main"), cylinder((0, 0), dz - 0.02, dz, r, "dark")]


def _stool(s: Size) -> list[Part]:
    dx, dy, dz = s
    r = min(dx, dy) / 2
    parts = [cylinder((0, 0), dz - 0.04, dz, r, "main")]
    for a in (0.0, 2.1, 4.2):
        parts.append(cylinder((np.cos(a) * r * 0.6, np.sin(a) * r * 0.6), 0.0, dz - 0.04, 0.02, "metal", 8))
    return parts


def _rug(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz), "main")]


def _microwave(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2 - 0.005, dy / 2, dz), "main"),
            box((dx / 2 - 0.005, -dy / 2 + 0.03, 0.04), (dx / 2, dy / 2 * 0.4, dz - 0.04), "screen")]


def _box_object(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2, 0.0), (dx / 2, dy / 2, dz), "main")]


def _towel(s: Size) -> list[Part]:
    dx, dy, dz = s
    return [box((-dx / 2, -dy / 2 - 0.02, dz - 0.02), (dx / 2, dy / 2 + 0.02, dz), "metal"),
            box((-dx / 2 + 0.01, -dy / 2, 0.0), (dx / 2 - 0.01, dy / 2, dz - 0.02), "main")]


_WOOD = ("brown", "beige", "white", "black")
_BRIGHT = ("red", "blue", "green", "yellow", "orange", "pink", "purple", "white", "black", "gray")
_SOFT = ("gray", "beige", "blue", "green", "red", "brown", "black")

CATEGORIES: dict[str, Category] = {c.name: c for c in [
    Category("bed", (1.95, 1.4, 0.9), (2.1, 1.8, 1.1), _bed, "wall", True, _SOFT, ("fabric",)),
    Category("nightstand", (0.38, 0.4, 0.5), (0.45, 0.55, 0.62), _nightstand, "wall", True, _WOOD, ("wood",), (1.0,)),
    Category("wardrobe", (0.55, 0.9, 1.9), (0.62, 1.4, 2.1), _doors_cabinet, "wall", True, _WOOD, ("wood",)),
    Category("dresser", (0.45, 0.9, 0.75), (0.55, 1.4, 0.95), _dresser, "wall", True, _WOOD, ("wood",), (1.0,)),
    Category("desk", (0.6, 1.1, 0.72), (0.75, 1.6, 0.76), _desk, "wall", True, _WOOD, ("wood", "metal"), (1.0,)),
    Category("chair", (0.45, 0.42, 0.82), (0.52, 0.5, 0.95), _chair, "floor", True, _BRIGHT + ("brown",), ("wood", "plastic")),
    Category("office chair", (0.55, 0.55, 0.9), (0.65, 0.65, 1.15), _office_chair, "floor", True,
             ("black", "gray", "blue", "red"), ("fabric", "leather")),
    Category("dining table", (0.8, 1.2, 0.73), (1.0, 1.9, 0.77), _table, "floor", False, _WOOD, ("wood", "glass"), (1.0,)),
    Category("coffee table", (0.5, 0.9, 0.38), (0.7, 1.3, 0.45), _coffee_table, "floor", False, _WOOD, ("wood", "glass"), (1.0,)),
    Category("sofa", (0.85, 1.7, 0.8), (1.0, 2.4, 0.95), _sofa, "wall", True, _SOFT, ("fabric", "leather")),
    Category("armchair", (0.8, 0.8, 0.8), (0.95, 1.0, 0.95), _sofa, "floor", True, _SOFT, ("fabric", "leather")),
    Category("tv stand", (0.4, 1.2, 0.45), (0.5, 1.8, 0.6), _tv_stand, "wall", True, _WOOD, ("wood",), (1.0,)),
    Category("tv", (0.2, 0.9, 0.55), (0.25, 1.4, 0.85), _tv, "on", True, ("black",), ("plastic",)),
    Category("bookshelf", (0.3, 0.7, 1.6), (0.4, 1.2, 2.0), _bookshelf, "wall", True, _WOOD, ("wood",), BOOKSHELF_LEVELS + (1.0,)),
    Category("cabinet", (0.4, 0.6, 0.8), (0.6, 1.0, 1.2), _doors_cabinet, "wall", True, _WOOD + ("gray",), ("wood", "metal"), (1.0,)),
    Category("kitchen counter", (0.6, 1.0, 0.9), (0.65, 2.0, 0.92), _counter, "wall", True, _WOOD + ("gray", "blue"),
             ("wood", "marble"), (1.0,)),
    Category("refrigerator", (0.65, 0.6, 1.7), (0.75, 0.9, 1.95), _fridge, "wall", True, ("white", "gray", "black"), ("metal",)),
    Category("stove", (0.6, 0.6, 0.88), (0.65, 0.76, 0.92), _stove, "wall", True, ("white", "black", "gray"), ("metal",)),
    Category("sink", (0.45, 0.55, 0.82), (0.55, 0.9, 0.88), _vanity, "wall", True, _WOOD + ("gray",), ("ceramic", "wood"), ()),
    Category("toilet", (0.65, 0.38, 0.75), (0.75, 0.45, 0.82), _toilet, "wall", True, ("white",), ("ceramic",)),
    Category("bathtub", (0.75, 1.5, 0.5), (0.85, 1.75, 0.6), _bathtub, "wall", False, ("white",), ("ceramic",)),
    Category("lamp", (0.25, 0.25, 0.35), (0.4, 0.4, 0.55), _table_lamp, "on", False, _BRIGHT, ("fabric", "metal")),
    Category("floor lamp", (0.35, 0.35, 1.5), (0.45, 0.45, 1.8), _floor_lamp, "floor", False, _BRIGHT, ("metal",)),
    Category("picture", (0.03, 0.4, 0.3), (0.04, 1.0, 0.8), _picture, "wall_mounted", True, _BRIGHT, ("paper",)),
    Category("mirror", (0.03, 0.45, 0.6), (0.04, 0.8, 1.0), _mirror, "wall_mounted", True, ("black", "white", "brown", "gray"), ("glass",)),
    Category("clock", (0.04, 0.25, 0.25), (0.05, 0.4, 0.4), _clock, "wall_mounted", True, _BRIGHT, ("plastic", "metal")),
    Category("plant", (0.3, 0.3, 0.5), (0.5, 0.5, 1.2), _plant, "floor", False, ("white", "gray", "brown", "blue", "black"), ("ceramic",)),
    Category("book", (0.15, 0.03, 0.2), (0.2, 0.06, 0.28), _book, "on", False, _BRIGHT, ("paper",)),
    Category("cup", (0.08, 0.08, 0.09), (0.1, 0.1, 0.12), _cup, "on", False, _BRIGHT, ("ceramic", "plastic")),
    Category("bowl", (0.14, 0.14, 0.06), (0.22, 0.22, 0.1), _bowl, "on", False, _BRIGHT, ("ceramic", "glass")),
    Category("laptop", (0.22, 0.32, 0.22), (0.26, 0.38, 0.26), _laptop, "on", True, ("gray", "black", "white"), ("metal", "plastic")),
    Category("monitor", (0.2, 0.5, 0.4), (0.22, 0.7, 0.5), _monitor, "on", True, ("black", "gray", "white"), ("plastic",)),
    Category("keyboard", (0.13, 0.4, 0.02), (0.16, 0.46, 0.035), _keyboard, "on", False, ("black", "white", "gray"), ("plastic",)),
    Category("vase", (0.1, 0.1, 0.2), (0.16, 0.16, 0.4), _vase, "on", False, _BRIGHT, ("ceramic", "glass")),
    Category("trash can", (0.25, 0.25, 0.3), (0.35, 0.35, 0.5), _trash_can, "floor", False,
             ("gray", "black", "white", "blue"), ("plastic", "metal")),
    Category("stool", (0.35, 0.35, 0.45), (0.42, 0.42, 0.75), _stool, "floor", False, _BRIGHT + ("brown",), ("wood", "metal")),
    Category("rug", (1.2, 1.6, 0.01), (2.0, 2.6, 0.015), _rug, "floor", False, _BRIGHT + ("beige",), ("fabric",)),
    Category("microwave", (0.32, 0.45, 0.26), (0.38, 0.52, 0.3), _microwave, "on", True, ("white", "black", "gray"), ("metal",)),
    Category("box", (0.2, 0.2, 0.12), (0.4, 0.45, 0.3), _box_object, "on", False, ("brown", "white", "red", "blue"), ("paper",)),
    Category("towel", (0.04, 0.45, 0.6), (0.05, 0.6, 0.8), _towel, "wall_mounted", False, _BRIGHT, ("fabric",)),
    Category("wall tv", (0.06, 1.0, 0.6), (0.08, 1.4, 0.85), _wall_tv, "wall_mounted", True, ("black",), ("plastic",)),
]}
