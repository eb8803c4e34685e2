"""Spatial relations from object boxes, vectorised over all pairs and triples.

Conventions: ``pair[name][i, j]`` is True when "object i <name> object j"
(i is the target, j the anchor), e.g. ``pair["on"][cup, table]``. Row/column
order is the order of :class:`ObjectTable`. Boxes are z-oriented; horizontal
relations use the axis-aligned footprint of each box (exact for the
axis-aligned boxes of scans and ground-truth lists).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scene3d.colors import measured_color_names
from scene3d.graph.config import RelationConfig
from scene3d.structures import Scene

#: Pair relations and their inverses ("i on j" <=> "j supporting i").
INVERSE = {
    "on": "supporting", "inside": "contains", "embedded": "embeds", "above": "below",
    "mounted_on": "mounting", "front_of": "front_of_inv", "behind": "behind_inv",
    "left_of": "left_of_inv", "right_of": "right_of_inv",
}
EGOCENTRIC = ("ego_left", "ego_right", "ego_front", "ego_behind")
SUPERLATIVES = ("largest", "smallest", "tallest", "lowest")


@dataclass(frozen=True)
class Viewpoint:
    """Where an observer stands and looks (world, metres). Only the horizontal part of
    ``direction`` matters: left/right/front/behind are taken in the floor plane."""

    position: np.ndarray  # (3,)
    direction: np.ndarray  # (3,), need not be unit

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, dtype=np.float64)
        if np.hypot(d[0], d[1]) < 1e-9 or not np.isfinite(d).all() or not np.isfinite(self.position).all():
            raise ValueError("viewpoint direction must have a finite, non-zero horizontal part")


@dataclass
class ObjectTable:
    """Per-object arrays (N objects) that the relations read.

    Attributes:
        ids: (N,) object ids. labels: class names. center/size: (N, 3) box centre and
        size; lo/hi: (N, 3) corners of each box's axis-aligned hull; yaw: (N,);
        has_front: (N,) bool; structure: (N,) bool (walls, floor, ceiling);
        color_names / materials: attribute names or None; ocenter/osize/oyaw: (N, 3),
        (N, 3), (N,) the oriented box (``SceneObject.oriented_box``) used by the
        footprint-shape relations (between, allocentric).
    """

    ids: np.ndarray
    labels: list[str]
    center: np.ndarray
    size: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    yaw: np.ndarray
    has_front: np.ndarray
    structure: np.ndarray
    color_names: list[str | None]
    materials: list[str | None]
    ocenter: np.ndarray
    osize: np.ndarray
    oyaw: np.ndarray

    @classmethod
    def from_scene(cls, scene: Scene, config: RelationConfig) -> ObjectTable:
        objs = scene.objects
        n = len(objs)
        center = np.array([o.box.center for o in objs]).reshape(n, 3)
        size = np.array([o.box.size for o in objs]).reshape(n, 3)
        yaw = np.array([o.box.yaw for o in objs], dtype=np.float64)
        c, s = np.abs(np.cos(yaw)), np.abs(np.sin(yaw))
        half = np.stack([c * size[:, 0] / 2 + s * size[:, 1] / 2, s * size[:, 0] / 2 + c * size[:, 1] / 2,
                         size[:, 2] / 2], axis=1) if n else np.zeros((0, 3))
        guessed = measured_color_names(np.array([o.color_rgb if o.color_rgb is not None else (0, 0, 0) for o in objs])) if n else []
        colors = [o.color_name or (guessed[i] if o.color_rgb is not None else None) for i, o in enumerate(objs)]
        return cls(
            ids=np.array([o.object_id for o in objs], dtype=np.int64), labels=[o.label for o in objs],
            center=center, size=size, lo=center - half, hi=center + half, yaw=yaw,
            has_front=np.array([o.has_front for o in objs], dtype=bool),
            structure=np.array([o.label in config.structure_labels for o in objs], dtype=bool),
            color_names=colors, materials=[o.material for o in objs],
            ocenter=np.array([o.oriented_box.center for o in objs]).reshape(n, 3),
            osize=np.array([o.oriented_box.size for o in objs]).reshape(n, 3),
            oyaw=np.array([o.oriented_box.yaw for o in objs], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Relations:
    """All relations of one scene.

    Attributes:
        pair: name -> (N, N) bool, ``[i, j]`` = "i name j".
        between: (K, 3) int rows (target, anchor a, anchor b), a < b (table positions).
        middle: (N,) bool, in the middle of the room.
        superlative: name -> (N,) bool, e.g. ``superlative["largest"][i]``: i is the
            largest of its class (classes with 2+ members only).
        size_class: per object "small" / "medium" / "large" (absolute volume).
        size_word: per object "tall" / "low" / "wide" / "large" / "small" relative to the
            other objects of its class (see :func:`_size_words`), or None.
    """

    pair: dict[str, np.ndarray] = field(default_factory=dict)
    between: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    middle: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    superlative: dict[str, np.ndarray] = field(default_factory=dict)
    size_class: list[str] = field(default_factory=list)
    size_word: list[str | None] = field(default_factory=list)


def _interval_overlap(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, N) length of the overlap of 1-D intervals [lo_i, hi_i] and [lo_j, hi_j] (0 if none)."""
    return np.clip(np.minimum(hi[:, None], hi[None]) - np.maximum(lo[:, None], lo[None]), 0.0, None)


def _gap(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean gap between axis-aligned boxes (0 when they touch or overlap)."""
    d = np.clip(np.maximum(lo[:, None] - hi[None], lo[None] - hi[:, None]), 0.0, None)
    return np.sqrt((d ** 2).sum(-1))


def _extreme(values: np.ndarray, groups: list[np.ndarray], margin: float, relative: bool, largest: bool) -> np.ndarray:
    """(N,) bool: in each group (2+ members), the member whose value beats the runner-up by the margin."""
    out = np.zeros(len(values), dtype=bool)
    for members in groups:
        v = values[members] if largest else -values[members]
        order = np.argsort(-v)
        best, second = v[order[0]], v[order[1]]
        beat = (best - second) >= (margin * abs(second) if relative else margin)
        if beat:
            out[members[order[0]]] = True
    return out


def _size_words(size: np.ndarray, groups: list[np.ndarray], cfg: RelationConfig) -> list[str | None]:
    """Per object (N), a size word that sets it apart from every other object of its class
    (groups of 2+ rows), or None. In order: "tall" (height >= ``size_word_ratio`` x every other's),
    "low" (height <= 1 / ratio x every other's), "wide" (longest side of the footprint >= ratio x
    every other's), "large" / "small" (volume >= ratio^2 x / <= 1 / ratio^2 x every other's)."""
    out: list[str | None] = [None] * len(size)
    r = cfg.size_word_ratio
    height, width, volume = size[:, 2], size[:, :2].max(axis=1), np.prod(size, axis=1)
    for members in groups:
        for i in members:
            others = members[members != i]
            tests = (("tall", height[i] >= r * height[others].max()), ("low", height[i] * r <= height[others].min()),
                     ("wide", width[i] >= r * width[others].max()),
                     ("large", volume[i] >= r * r * volume[others].max()),
                     ("small", volume[i] * r * r <= volume[others].min()))
            out[i] = next((word for word, hit in tests if hit), None)
    return out


def _footprints(t: ObjectTable) -> np.ndarray:
    """(N, 4, 2) xy corners of each oriented box, counter-clockwise."""
    half = t.osize[:, :2] / 2
    unit = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    local = unit[None] * half[:, None, :]
    c, s = np.cos(t.oyaw)[:, None], np.sin(t.oyaw)[:, None]
    return np.stack([c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1]], -1) \
        + t.ocenter[:, None, :2]


def _samples(t: ObjectTable, rows: np.ndarray, k: int = 4) -> np.ndarray:
    """(len(rows), k*k, 2) grid points filling the oriented footprints of ``rows``."""
    g = (np.arange(k) + 0.5) / k - 0.5
    uv = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)          # (S, 2)
    local = uv[None] * t.osize[rows, None, :2]
    c, s = np.cos(t.oyaw[rows])[:, None], np.sin(t.oyaw[rows])[:, None]
    return np.stack([c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1]], -1) \
        + t.ocenter[rows, None, :2]


def _cross(e: np.ndarray, v: np.ndarray) -> np.ndarray:
    return e[..., 0] * v[..., 1] - e[..., 1] * v[..., 0]


def _hull_edges(points: np.ndarray, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the convex hull of each point set (K, P, 2), as (start (K, E, 2), inward
    normal (K, E, 2), is_edge (K, E)) over all point pairs. A pair is a hull edge when
    every point lies on one side of its line."""
    ii, jj = np.triu_indices(points.shape[1], 1)
    start, edge = points[:, ii], points[:, jj] - points[:, ii]                   # (K, E, 2)
    side = _cross(edge[:, :, None], points[:, None] - start[:, :, None])         # (K, E, P)
    lengthy = np.hypot(edge[..., 0], edge[..., 1]) > 1e-9
    pos, neg = (side >= -eps).all(-1), (side <= eps).all(-1)
    sign = np.where(pos & ~neg, 1.0, -1.0)[..., None]
    inward = np.stack([-edge[..., 1], edge[..., 0]], -1) * sign                  # left normal, flipped inside
    is_edge = lengthy & (pos | neg)
    width = max(int(is_edge.sum(axis=1).max(initial=0)), 1)                        # collinear points add pairs
    keep = np.argsort(~is_edge, axis=1, kind="stable")[:, :width]
    take = np.take_along_axis
    return take(start, keep[..., None], 1), take(inward, keep[..., None], 1), take(is_edge, keep, 1)


def _in_hull(start: np.ndarray, inward: np.ndarray, is_edge: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(K, Q) bool: queries (K, Q, 2) on the inner side of every hull edge of their row."""
    dx = queries[:, None, :, 0] - start[:, :, None, 0]                            # (K, E, Q)
    dy = queries[:, None, :, 1] - start[:, :, None, 1]
    inside = dx * inward[:, :, None, 0] + dy * inward[:, :, None, 1] >= -1e-7
    return (inside | ~is_edge[..., None]).all(axis=1)


def _in_boxes(t: ObjectTable, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(K, Q) bool: queries (K, Q, 2) inside the oriented footprint of object ``rows[k]``."""
    d = queries - t.ocenter[rows, None, :2]
    c, s = np.cos(t.oyaw[rows])[:, None], np.sin(t.oyaw[rows])[:, None]
    u = d[..., 0] * c + d[..., 1] * s
    v = -d[..., 0] * s + d[..., 1] * c
    return (np.abs(u) <= t.osize[rows, None, 0] / 2 + 1e-9) & (np.abs(v) <= t.osize[rows, None, 1] / 2 + 1e-9)


def _between(t: ObjectTable, obj: np.ndarray, over_target: np.ndarray, cfg: RelationConfig) -> np.ndarray:
    """(K, 3) rows (target, a, b), a < b, by Sr3D's test on oriented footprints: the target
    lies mostly inside the convex hull of the anchors, barely over either anchor, and at
    their height."""
    idx = np.flatnonzero(obj)
    empty = np.zeros((0, 3), dtype=np.int64)
    if len(idx) < 3:
        return empty
    feet = _footprints(t)
    radius = np.linalg.norm(t.osize[:, :2], axis=1) / 2
    c = t.ocenter[:, :2]
    # pairwise necessary conditions first (N x N), so that only admissible triples are formed:
    # the target does not sit over the anchor (its axis-aligned footprint, loosely) and their
    # heights overlap by a share of the target's height
    h = np.maximum(t.hi[:, 2] - t.lo[:, 2], 1e-9)
    z_overlap = np.minimum(t.hi[:, None, 2], t.hi[None, :, 2]) - np.maximum(t.lo[:, None, 2], t.lo[None, :, 2])
    pair_ok = (over_target < 0.9) & (z_overlap >= cfg.between_z_overlap * h[:, None]) & obj[:, None] & obj[None]
    np.fill_diagonal(pair_ok, False)
    ia, ib = np.triu_indices(len(idx), 1)
    a_all, b_all = idx[ia], idx[ib]                                               # anchor pairs, a < b
    tt, pp = np.nonzero(pair_ok[:, a_all] & pair_ok[:, b_all])                    # (t, a, b) in lexicographic order
    aa, bb = a_all[pp], b_all[pp]
    if not len(tt):
        return empty
    # cheap necessary condition: the target centre is near the segment between the anchors
    seg = c[bb] - c[aa]
    length2 = np.maximum((seg ** 2).sum(-1), 1e-12)
    rel = c[tt] - c[aa]
    proj = (rel * seg).sum(-1) / length2
    lateral = np.abs(_cross(seg, rel)) / np.sqrt(length2)
    # over half the target inside the hull: its centre is within half its size of the hull
    reach = np.maximum(radius[aa], radius[bb]) + 0.5 * radius[tt]
    length = np.sqrt(length2)
    ok = (proj > -(radius[aa] + 0.5 * radius[tt]) / length) & (proj < 1 + (radius[bb] + 0.5 * radius[tt]) / length)
    ok &= lateral < reach
    tt, aa, bb = tt[ok], aa[ok], bb[ok]
    if not len(tt):
        return empty
    pairs, which = np.unique(aa * len(t) + bb, return_inverse=True)               # hull once per anchor pair
    start, inward, is_edge = _hull_edges(np.concatenate([feet[pairs // len(t)], feet[pairs % len(t)]], axis=1))
    which = which.reshape(-1)

    def shares(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coverage by the hull, and share over anchor a and b, on a k x k grid (rows far
        from the coverage threshold skip the anchor tests)."""
        q = _samples(t, tt[rows], k)
        w = which[rows]
        cover = _in_hull(start[w], inward[w], is_edge[w], q).mean(axis=1)
        over_a, over_b = np.ones(len(rows)), np.ones(len(rows))
        hit = cover >= cfg.between_coverage - 0.25
        over_a[hit] = _in_boxes(t, aa[rows[hit]], q[hit]).mean(axis=1)
        over_b[hit] = _in_boxes(t, bb[rows[hit]], q[hit]).mean(axis=1)
        return cover, over_a, over_b

    # a coarse 3 x 3 grid settles most triples; the close calls are measured on the fine grid
    rows = np.arange(len(tt))
    cover, over_a, over_b = shares(rows, 3)
    close = (np.abs(cover - cfg.between_coverage) < 0.25) | ((over_a > 0) & (over_a < 0.3)) \
        | ((over_b > 0) & (over_b < 0.3))
    if close.any():
        cover[close], over_a[close], over_b[close] = shares(rows[close], cfg.between_samples)
    ok = (cover >= cfg.between_coverage) & (over_a <= cfg.between_anchor_overlap) & (over_b <= cfg.between_anchor_overlap)
    return np.stack([tt[ok], aa[ok], bb[ok]], axis=1).astype(np.int64)


def _allocentric(t: ObjectTable, allowed: np.ndarray, cfg: RelationConfig) -> dict[str, np.ndarray]:
    """front_of / behind / left_of / right_of [i, j]: i's centre in a sector of anchor j's
    oriented box (front = local +x). Left and right are as seen by someone facing j's
    front (Sr3D's convention), i.e. j's own right and left."""
    d = t.center[:, None, :2] - t.ocenter[None, :, :2]
    cj, sj = np.cos(t.oyaw)[None], np.sin(t.oyaw)[None]
    u = d[..., 0] * cj + d[..., 1] * sj           # along the anchor's front
    v = -d[..., 0] * sj + d[..., 1] * cj          # along the anchor's own left
    hx, hy = t.osize[None, :, 0] / 2, t.osize[None, :, 1] / 2
    df, dl = np.minimum(4 * hx, cfg.sector_depth), np.minimum(4 * hy, cfg.sector_depth)
    k = np.tan(cfg.sector_flare)

    def sector(s: np.ndarray, across: np.ndarray, half: np.ndarray, depth: np.ndarray) -> np.ndarray:
        return allowed & (s >= 0) & (s <= depth + cfg.sector_reach) & (np.abs(across) <= half + k * np.minimum(s, depth))

    return {
        "front_of": sector(u - hx, v, hy, df),
        "behind": sector(-u - hx, v, hy, df),
        "left_of": sector(-v - hy, u, hx, dl),    # the viewer's left = the anchor's right
        "right_of": sector(v - hy, u, hx, dl),
    }


def compute_relations(t: ObjectTable, cfg: RelationConfig, viewpoint: Viewpoint | None = None,
                      room_lo: np.ndarray | None = None, room_hi: np.ndarray | None = None) -> Relations:
    """Decide every relation of the objects in ``t`` (see :class:`RelationConfig` for the rules)."""
    n = len(t)
    rel = Relations()
    if n == 0:
        return rel
    eye = np.eye(n, dtype=bool)
    obj = ~t.structure
    both = obj[:, None] & obj[None] & ~eye
    labels = np.array(t.labels, dtype=object)
    is_floor, is_wall = labels == "floor", labels == "wall"

    area = np.maximum((t.hi[:, 0] - t.lo[:, 0]) * (t.hi[:, 1] - t.lo[:, 1]), 1e-9)
    volume = np.maximum(area * (t.hi[:, 2] - t.lo[:, 2]), 1e-12)
    ov = [_interval_overlap(t.lo[:, k], t.hi[:, k]) for k in range(3)]
    inter_xy = ov[0] * ov[1]
    inter_vol = inter_xy * ov[2]
    over_target = inter_xy / area[:, None]               # share of i's footprint over j
    over_smaller = inter_xy / np.minimum(area[:, None], area[None])
    bottom, top = t.lo[:, 2], t.hi[:, 2]
    z_gap = bottom[:, None] - top[None]                  # i's bottom above j's top
    gap3 = _gap(t.lo, t.hi)
    gap_xy = _gap(t.lo[:, :2], t.hi[:, :2])

    # --- vertical
    rests = (np.abs(z_gap) <= cfg.support_gap) & (area[:, None] < cfg.support_area_ratio * area[None])
    shelf = (bottom[:, None] > bottom[None] + 0.02) & (z_gap < 0) & (-z_gap < cfg.support_depth) & (over_target > 0.9)
    supporter = obj[None] | is_floor[None]
    on = obj[:, None] & supporter & ~eye & (over_target > cfg.support_overlap) & (rests | shelf)
    inside_share = inter_vol / volume[:, None]
    inside = both & (inside_share >= cfg.inside_fraction) & (volume[:, None] < volume[None])
    embedded = both & (inside_share >= cfg.embedded_fraction) & ~inside & (bottom[:, None] > bottom[None] + 0.02) & ~on
    above = both & (z_gap > cfg.above_gap) & (over_smaller > cfg.above_overlap)
    floor_top = top[is_floor].max() if is_floor.any() else (room_lo[2] if room_lo is not None else bottom.min())
    raised = bottom > floor_top + cfg.mount_min_height
    supported = on.any(axis=1)
    mounted = obj[:, None] & is_wall[None] & (gap3 < cfg.mount_gap) & (raised & ~supported)[:, None]

    # --- horizontal
    near = both & (gap3 < cfg.near)
    far = both & (gap_xy > cfg.far)
    stacked = on | on.T | inside | inside.T
    next_to = both & (gap3 < cfg.next_to) & (ov[2] > 0) & ~stacked

    rel.pair.update(on=on, inside=inside, embedded=embedded, above=above, mounted_on=mounted,
                    near=near, far=far, next_to=next_to)

    # --- closest / farthest of a class to an anchor
    dist = gap3  # box-to-box distance (Sr3D: nearest points of the two point clouds)
    closest = np.zeros((n, n), dtype=bool)
    farthest = np.zeros((n, n), dtype=bool)
    classes: dict[str, list[int]] = {}
    for i in np.flatnonzero(obj):
        classes.setdefault(t.labels[i], []).append(i)
    groups = [np.array(m) for m in classes.values() if len(m) >= 2]
    for members in groups:                        # every anchor of another class at once
        anchors = np.flatnonzero(obj & (labels != t.labels[members[0]]))
        if not len(anchors):
            continue
        d = dist[np.ix_(members, anchors)]        # (members, anchors)
        ranked = np.sort(d, axis=0)
        near_ok = ranked[1] - ranked[0] >= cfg.closest_margin
        far_ok = ranked[-1] - ranked[-2] >= cfg.closest_margin
        closest[members[d.argmin(axis=0)[near_ok]], anchors[near_ok]] = True
        farthest[members[d.argmax(axis=0)[far_ok]], anchors[far_ok]] = True
    rel.pair.update(closest=closest, farthest=farthest)

    # --- between: target i between anchors a < b
    rel.between = _between(t, obj, over_target, cfg)

    # --- in the middle of the room
    if room_lo is None:
        room_lo, room_hi = t.lo.min(axis=0), t.hi.max(axis=0)
    room_c, room_half = (room_lo + room_hi) / 2, np.maximum((room_hi - room_lo) / 2, 1e-9)
    rel.middle = obj & (np.abs(t.center[:, :2] - room_c[:2]) <= cfg.middle_fraction * room_half[:2]).all(axis=1)

    # --- allocentric: sectors of the anchor's oriented box, left/right as seen facing its front
    rel.pair.update(_allocentric(t, both & t.has_front[None] & ~(over_target > cfg.sector_overlap), cfg))

    # --- egocentric, from an explicit viewpoint only
    d = t.center[:, None, :2] - t.center[None, :, :2]             # from j to i
    if viewpoint is not None:
        f = np.asarray(viewpoint.direction, dtype=np.float64)[:2]
        f = f / np.linalg.norm(f)
        r = np.array([f[1], -f[0]])                                 # the viewer's right (z up)
        along_r, along_f = d @ r, d @ f
        dom_r = np.abs(along_r) >= np.abs(along_f)
        ego = both & (gap3 < cfg.front_max_gap) & ~stacked
        rel.pair.update(
            ego_left=ego & dom_r & (along_r < -cfg.view_margin),
            ego_right=ego & dom_r & (along_r > cfg.view_margin),
            ego_front=ego & ~dom_r & (along_f < -cfg.view_margin),  # i is nearer the viewer than j
            ego_behind=ego & ~dom_r & (along_f > cfg.view_margin),
        )

    # --- superlatives within a class, size classes
    height = t.hi[:, 2] - t.lo[:, 2]
    rel.superlative = {
        "largest": _extreme(volume, groups, cfg.superlative_margin, True, True),
        "smallest": _extreme(volume, groups, cfg.superlative_margin, True, False),
        "tallest": _extreme(height, groups, cfg.superlative_margin, True, True),
        "lowest": _extreme(bottom, groups, cfg.height_margin, False, False),
    }
    lo_v, hi_v = cfg.size_classes
    rel.size_class = ["small" if v < lo_v else "medium" if v < hi_v else "large" for v in volume]
    rel.size_word = _size_words(t.hi - t.lo, groups, cfg)
    return rel
