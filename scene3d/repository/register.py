"""Geometric verification of two scenes as the same place: a rigid registration of their
objects (z-up: a turn about z plus a translation) by RANSAC over same-class object pairs.

Each hypothesis comes from two correspondences (objects of the same class in both scenes);
it is scored by how many objects of one scene land, after the transform, within ``tol``
metres of an unused object of the same class in the other. The best hypothesis is refined
by least squares on its inliers. This works on object lists (ground-truth boxes, or
instances of a scan), so re-scans, crops and moved copies of a room are recognised without
their points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scene3d.geometry.transforms import apply_transform
from scene3d.repository.embed import STRUCTURE
from scene3d.structures import Scene


@dataclass(frozen=True)
class Registration:
    """transform: (4, 4) taking scene A's world frame into scene B's (z-up turn + translation);
    matches: (object id in A, object id in B) pairs; overlap: matches / objects of the smaller
    scene (0..1)."""

    transform: np.ndarray
    matches: tuple[tuple[int, int], ...]
    overlap: float


def _rigid_2d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares yaw and translation (3,) taking src (K, 3) onto dst (K, 3), z-up."""
    cs, cd = src.mean(0), dst.mean(0)
    a, b = src[:, :2] - cs[:2], dst[:, :2] - cd[:2]
    yaw = math.atan2(float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()), float((a * b).sum()))
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return yaw, cd - rot @ cs


def _matrix(yaw: float, t: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = t
    return m


def _match(pa: np.ndarray, la: list[str], pb: np.ndarray, lb: list[str], m: np.ndarray,
           tol: float) -> list[tuple[int, int]]:
    """Greedy one-to-one same-class matches within ``tol`` after moving A by ``m``."""
    moved = apply_transform(m, pa)
    d = np.linalg.norm(moved[:, None] - pb[None], axis=-1)
    same = np.array([[x == y for y in lb] for x in la], dtype=bool)
    d = np.where(same & (d <= tol), d, np.inf)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(d, axis=None):
        i, j = divmod(int(flat), d.shape[1])
        if not np.isfinite(d[i, j]):
            break
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs


def register_objects(a: Scene, b: Scene, tol: float = 0.2, iterations: int = 300, seed: int = 0) -> Registration:
    """Register scene ``a``'s objects onto ``b``'s (box centres, metres; see the module doc).

    Walls, floors and ceilings are left out: rooms of similar size share them, so they do not
    tell places apart. Returns a Registration with overlap 0 and the identity when fewer than
    2 objects of ``a`` have a same-class partner in ``b``.
    """
    oa = [o for o in a.objects if o.label not in STRUCTURE]
    ob = [o for o in b.objects if o.label not in STRUCTURE]
    pa = np.array([o.box.center for o in oa], dtype=np.float64).reshape(-1, 3)
    pb = np.array([o.box.center for o in ob], dtype=np.float64).reshape(-1, 3)
    la, lb = [o.label for o in oa], [o.label for o in ob]
    cands = [(i, j) for i in range(len(la)) for j in range(len(lb)) if la[i] == lb[j]]
    none = Registration(np.eye(4), (), 0.0)
    if len(cands) < 2 or min(len(la), len(lb)) == 0:
        return none
    rng = np.random.default_rng(seed)
    best: list[tuple[int, int]] = []
    for _ in range(iterations):
        (i1, j1), (i2, j2) = (cands[k] for k in rng.choice(len(cands), size=2, replace=False))
        if i1 == i2 or j1 == j2:
            continue
        span_a, span_b = np.linalg.norm(pa[i1, :2] - pa[i2, :2]), np.linalg.norm(pb[j1, :2] - pb[j2, :2])
        if span_a < 0.2 or abs(span_a - span_b) > 2 * tol:  # a rigid move keeps distances
            continue
        yaw, t = _rigid_2d(pa[[i1, i2]], pb[[j1, j2]])
        pairs = _match(pa, la, pb, lb, _matrix(yaw, t), tol)
        if len(pairs) > len(best):
            best = pairs
    if len(best) < 2:
        return none
    ia, ib = (np.array(x) for x in zip(*best))
    m = _matrix(*_rigid_2d(pa[ia], pb[ib]))
    best = _match(pa, la, pb, lb, m, tol)
    matches = tuple((oa[i].object_id, ob[j].object_id) for i, j in best)
    return Registration(m, matches, len(best) / min(len(la), len(lb)))
