"""Placing objects in a rectangular room so that nothing interpenetrates.

The room spans x in [0, width], y in [0, depth], z in [0, height] (metres).
Walls are numbered counter-clockwise from the south wall (y = 0): 0 south,
1 east (x = width), 2 north (y = depth), 3 west (x = 0). An object placed
against a wall faces into the room (its local +x along the wall's inward normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scene3d.structures import Box
from scene3d.synth.catalog import CATEGORIES, Category
from scene3d.synth.palette import COLORS, jitter
from scene3d.synth.parts import Part

_GAP = 0.01      # clearance between neighbours and from walls (m)
_EPS = 1e-4      # overlaps smaller than this are contact, not interpenetration


@dataclass
class Placed:
    """An object with its pose and looks.

    Attributes:
        category: its class.
        parts: meshes in the local frame.
        lo / hi: (3,) local bounds of the parts.
        position: (3,) world position of the local origin (metres).
        yaw: rotation about z (radians); local +x = front.
        color_name / color_rgb / material: its attributes.
        supporter: index of the object it stands on, or None.
    """

    category: Category
    parts: list[Part]
    lo: np.ndarray
    hi: np.ndarray
    position: np.ndarray
    yaw: float
    color_name: str
    color_rgb: np.ndarray
    material: str
    supporter: int | None = None
    wall: int | None = None
    along: float = 0.0  # position along its wall (m), for wall-placed objects

    @property
    def box(self) -> Box:
        """The world box: the local bounds, rotated by yaw and moved to position."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        local_center = (self.lo + self.hi) / 2
        center = self.position + np.array([c * local_center[0] - s * local_center[1],
                                           s * local_center[0] + c * local_center[1], local_center[2]])
        return Box(center=center, size=self.hi - self.lo, yaw=float(self.yaw))

    def transform(self) -> np.ndarray:
        """(4, 4) local -> world."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        m = np.eye(4)
        m[:2, :2] = [[c, -s], [s, c]]
        m[:3, 3] = self.position
        return m


def _xy_corners(box: Box) -> np.ndarray:
    return box.corners()[:4, :2]


def boxes_overlap(a: Box, b: Box, eps: float = _EPS) -> bool:
    """True when two z-oriented boxes overlap by more than ``eps`` (separating-axis test)."""
    za = (a.center[2] - a.size[2] / 2, a.center[2] + a.size[2] / 2)
    zb = (b.center[2] - b.size[2] / 2, b.center[2] + b.size[2] / 2)
    if min(za[1], zb[1]) - max(za[0], zb[0]) <= eps:
        return False
    ca, cb = _xy_corners(a), _xy_corners(b)
    for yaw in (a.yaw, b.yaw):
        for axis in (np.array([math.cos(yaw), math.sin(yaw)]), np.array([-math.sin(yaw), math.cos(yaw)])):
            pa, pb = ca @ axis, cb @ axis
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= eps:
                return False
    return True


@dataclass
class Wall:
    """A wall as a segment: start point, unit tangent, inward normal, length (metres)."""

    start: np.ndarray
    tangent: np.ndarray
    normal: np.ndarray
    length: float

    @property
    def yaw(self) -> float:
        return math.atan2(self.normal[1], self.normal[0])

    def point(self, along: float, inward: float) -> np.ndarray:
        """(2,) the point ``along`` the wall and ``inward`` from it."""
        return self.start + self.tangent * along + self.normal * inward


@dataclass
class Opening:
    """A door or window hole in a wall: along-wall interval [t0, t1], heights [z0, z1]."""

    kind: str
    wall: int
    t0: float
    t1: float
    z0: float
    z1: float


@dataclass
class Layout:
    """A room being furnished. Methods return the placed object or None when no spot fits."""

    rng: np.random.Generator
    width: float
    depth: float
    height: float
    objects: list[Placed] = field(default_factory=list)
    keepouts: list[Box] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)

    @property
    def walls(self) -> list[Wall]:
        w, d = self.width, self.depth
        return [
            Wall(np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), w),
            Wall(np.array([w, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), d),
            Wall(np.array([w, d]), np.array([-1.0, 0.0]), np.array([0.0, -1.0]), w),
            Wall(np.array([0.0, d]), np.array([0.0, -1.0]), np.array([1.0, 0.0]), d),
        ]

    # ----------------------------------------------------------------- openings
    def add_opening(self, kind: str, wall: int, width: float, z0: float, z1: float) -> Opening | None:
        """Cut a door or window into ``wall``, away from corners and other openings."""
        length = self.walls[wall].length
        for _ in range(30):
            t0 = float(self.rng.uniform(0.3, length - width - 0.3))
            op = Opening(kind, wall, t0, t0 + width, z0, z1)
            if all(o.wall != wall or op.t1 + 0.3 < o.t0 or o.t1 + 0.3 < op.t0 for o in self.openings):
                self.openings.append(op)
                reach = 0.9 if kind == "door" else 0.06  # door swing / window sill clearance
                wl = self.walls[wall]
                mid = wl.point((op.t0 + op.t1) / 2, reach / 2)
                self.keepouts.append(Box(center=np.array([mid[0], mid[1], (z0 + z1) / 2]),
                                         size=np.array([reach, width + 0.1, z1 - z0]), yaw=wl.yaw))
                return op
        return None

    # ----------------------------------------------------------------- objects
    def _make(self, name: str, position: np.ndarray, yaw: float, size: np.ndarray | None = None) -> Placed:
        cat = CATEGORIES[name]
        size = cat.sample_size(self.rng) if size is None else size
        parts = cat.build(tuple(float(v) for v in size))
        bounds = np.array([[p.mesh.bounds[0] for p in parts], [p.mesh.bounds[1] for p in parts]])
        bounds = np.stack([bounds[0].min(axis=0), bounds[1].max(axis=0)])
        color_name = str(self.rng.choice(cat.colors))
        return Placed(cat, parts, bounds[0].copy(), bounds[1].copy(), np.asarray(position, dtype=np.float64),
                      float(yaw), color_name, jitter(COLORS[color_name], self.rng), str(self.rng.choice(cat.materials)))

    def fits(self, obj: Placed, ignore: tuple[int, ...] = ()) -> bool:
        """Inside the room and overlapping no keep-out zone and no object (but ``ignore``)."""
        box = obj.box
        xy = _xy_corners(box)
        if xy.min() < -_EPS or (xy[:, 0] > self.width + _EPS).any() or (xy[:, 1] > self.depth + _EPS).any():
            return False
        if box.center[2] + box.size[2] / 2 > self.height - 0.05:
            return False
        if any(boxes_overlap(box, k) for k in self.keepouts):
            return False
        return not any(boxes_overlap(box, o.box) for i, o in enumerate(self.objects) if i not in ignore)

    def _commit(self, obj: Placed, ignore: tuple[int, ...] = ()) -> Placed | None:
        if self.fits(obj, ignore):
            self.objects.append(obj)
            return obj
        return None

    def against_wall(self, name: str, wall: int | None = None, along: float | None = None,
                     tries: int = 40, margin: float = 0.0) -> Placed | None:
        """Back against a wall (random wall / position unless given), facing into the room.

        ``margin`` keeps that much wall free on both sides (room for neighbours)."""
        for _ in range(tries):
            w = int(self.rng.integers(4)) if wall is None else wall
            wl = self.walls[w]
            obj = self._make(name, np.zeros(3), wl.yaw)
            half = (obj.hi[1] - obj.lo[1]) / 2 + (margin if along is None else 0.0)
            if wl.length < 2 * half + 2 * _GAP:
                continue
            t = float(self.rng.uniform(half + _GAP, wl.length - half - _GAP)) if along is None else along
            xy = wl.point(t, -obj.lo[0] + _GAP)
            obj.position = np.array([xy[0], xy[1], 0.0])
            obj.wall, obj.along = w, t
            if self._commit(obj):
                return obj
            if along is not None and wall is not None:
                return None
        return None

    def beside(self, anchor: Placed, name: str, side: int) -> Placed | None:
        """On the same wall as ``anchor``, just to its left (side=-1) or right (+1) along the wall."""
        if anchor.wall is None:
            return None
        probe = self._make(name, np.zeros(3), 0.0)
        half_a = (anchor.hi[1] - anchor.lo[1]) / 2
        half_b = (probe.hi[1] - probe.lo[1]) / 2
        t = anchor.along + side * (half_a + half_b + 0.04)
        wl = self.walls[anchor.wall]
        if not half_b + _GAP <= t <= wl.length - half_b - _GAP:
            return None
        return self.against_wall(name, anchor.wall, t, tries=1)

    def free(self, name: str, center: tuple[float, float] | None = None, yaw: float | None = None,
             tries: int = 40) -> Placed | None:
        """Free standing on the floor, at ``center`` (else random) with ``yaw`` (else a right angle)."""
        for _ in range(tries if center is None else 1):
            obj = self._make(name, np.zeros(3), 0.0)
            ext = max(obj.hi[0] - obj.lo[0], obj.hi[1] - obj.lo[1]) / 2 + 0.05
            if center is None:
                if self.width < 2 * ext or self.depth < 2 * ext:
                    return None
                c = (self.rng.uniform(ext, self.width - ext), self.rng.uniform(ext, self.depth - ext))
            else:
                c = center
            obj.yaw = float(self.rng.integers(4) * math.pi / 2) if yaw is None else yaw
            obj.position = np.array([c[0], c[1], 0.0])
            if self._commit(obj):
                return obj
        return None

    def around(self, table: Placed, name: str, count: int) -> list[Placed]:
        """Up to ``count`` seats facing ``table`` from its sides (long sides first)."""
        tb = table.box
        c, s = math.cos(tb.yaw), math.sin(tb.yaw)
        ax, ay = np.array([c, s]), np.array([-s, c])
        half = tb.size / 2
        slots = []
        n_long = max(1, int(tb.size[1] // 0.6))
        for k in range(n_long):
            off = (k + 0.5) / n_long * tb.size[1] - half[1]
            slots += [(ax, off, half[0]), (-ax, -off, half[0])]
        slots += [(ay, 0.0, half[1]), (-ay, 0.0, half[1])]
        placed = []
        for normal, off, reach in slots:
            if len(placed) == count:
                break
            probe = self._make(name, np.zeros(3), 0.0)
            dist = reach + (-probe.lo[0]) + 0.05
            tangent = np.array([-normal[1], normal[0]])
            xy = tb.center[:2] + normal * dist + tangent * off
            yaw = math.atan2(-normal[1], -normal[0])  # face the table
            obj = self.free(name, center=(float(xy[0]), float(xy[1])), yaw=yaw)
            if obj is not None:
                placed.append(obj)
        return placed

    def on(self, supporter: Placed, name: str, tries: int = 25) -> Placed | None:
        """Standing on one of ``supporter``'s surfaces (chosen at random), not touching its neighbours."""
        cat = supporter.category
        if not cat.surfaces:
            return None
        sup_index = self.objects.index(supporter)
        dz = supporter.hi[2]
        levels = list(cat.surfaces)
        for _ in range(tries):
            i = int(self.rng.integers(len(levels)))
            z = levels[i] * dz
            ceiling = levels[i + 1] * dz - 0.02 if i + 1 < len(levels) else math.inf
            obj = self._make(name, np.zeros(3), supporter.yaw if obj_has_front(name) else float(self.rng.uniform(-math.pi, math.pi)))
            if z + obj.hi[2] > ceiling - 0.02:
                continue
            # footprint radius of the object in the supporter's frame
            rad = float(np.hypot(*(np.maximum(np.abs(obj.lo[:2]), np.abs(obj.hi[:2]))))) if not obj_has_front(name) else None
            inset = 0.03
            lo = supporter.lo[:2] + inset + 0.02
            hi = supporter.hi[:2] - inset
            if rad is not None:
                lo_o, hi_o = lo + rad, hi - rad
            else:
                lo_o, hi_o = lo - obj.lo[:2], hi - obj.hi[:2]
            if (hi_o <= lo_o).any():
                continue
            local = self.rng.uniform(lo_o, hi_o)
            if obj_has_front(name):  # screens and laptops sit towards the back
                local[0] = lo_o[0] + 0.25 * (hi_o[0] - lo_o[0]) * self.rng.random()
            c, s = math.cos(supporter.yaw), math.sin(supporter.yaw)
            world = supporter.position[:2] + np.array([c * local[0] - s * local[1], s * local[0] + c * local[1]])
            obj.position = np.array([world[0], world[1], supporter.position[2] + z])
            obj.supporter = sup_index
            if self._commit(obj, ignore=(sup_index,)):
                return obj
        return None

    def on_wall(self, name: str, wall: int | None = None, z_center: float | None = None,
                along: float | None = None, tries: int = 40) -> Placed | None:
        """Hung on a wall (pictures, mirrors, clocks, wall TVs), facing into the room."""
        for _ in range(tries):
            w = int(self.rng.integers(4)) if wall is None else wall
            wl = self.walls[w]
            obj = self._make(name, np.zeros(3), wl.yaw)
            half_w = (obj.hi[1] - obj.lo[1]) / 2
            h = obj.hi[2]
            if wl.length < 2 * half_w + 0.2:
                continue
            t = float(self.rng.uniform(half_w + 0.1, wl.length - half_w - 0.1)) if along is None else along
            zc = float(self.rng.uniform(1.3, 1.7)) if z_center is None else z_center
            xy = wl.point(t, -obj.lo[0] + 0.002)
            obj.position = np.array([xy[0], xy[1], zc - h / 2])
            obj.wall, obj.along = w, t
            if self._commit(obj):
                return obj
        return None


def obj_has_front(name: str) -> bool:
    """Whether the class has an intrinsic front."""
    return CATEGORIES[name].has_front
