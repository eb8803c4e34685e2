"""Room shells: floor, walls with door and window holes, ceiling, door panels and window panes.

Shell surfaces are single-sided quads on the room's boundary planes, facing
into the room; door panels and window panes sit in their openings, just
behind the wall plane.
"""

from __future__ import annotations

import numpy as np
import trimesh

from scene3d.synth.layout import Layout, Opening, Wall
from scene3d.synth.parts import Part


def _quad(p0: np.ndarray, u: np.ndarray, v: np.ndarray, normal: np.ndarray) -> trimesh.Trimesh:
    """A rectangle with corner p0 and edges u, v (3,), wound to face ``normal``."""
    verts = np.array([p0, p0 + u, p0 + u + v, p0 + v])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    if np.dot(np.cross(u, v), normal) < 0:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(verts, faces, process=False)


def _wall_point(wall: Wall, t: float, z: float) -> np.ndarray:
    xy = wall.point(t, 0.0)
    return np.array([xy[0], xy[1], z])


def wall_parts(wall: Wall, height: float, openings: list[Opening]) -> list[Part]:
    """The wall's quads around its openings (vertical strips split at opening edges)."""
    normal = np.array([wall.normal[0], wall.normal[1], 0.0])
    tangent = np.array([wall.tangent[0], wall.tangent[1], 0.0])
    cuts = sorted({0.0, wall.length, *[o.t0 for o in openings], *[o.t1 for o in openings]})
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        hole = next((o for o in openings if o.t0 <= a and b <= o.t1), None)
        spans = [(0.0, height)] if hole is None else [(0.0, hole.z0), (hole.z1, height)]
        for z0, z1 in spans:
            if z1 - z0 > 1e-6 and b - a > 1e-6:
                parts.append(Part(_quad(_wall_point(wall, a, z0), tangent * (b - a),
                                        np.array([0.0, 0.0, z1 - z0]), normal), "main"))
    return parts


def floor_part(lay: Layout) -> Part:
    return Part(_quad(np.zeros(3), np.array([lay.width, 0, 0.0]), np.array([0, lay.depth, 0.0]),
                      np.array([0, 0, 1.0])), "main")


def ceiling_part(lay: Layout) -> Part:
    return Part(_quad(np.array([0, 0, lay.height]), np.array([lay.width, 0, 0.0]),
                      np.array([0, lay.depth, 0.0]), np.array([0, 0, -1.0])), "main")


def opening_part(wall: Wall, op: Opening) -> list[Part]:
    """A door panel (with a handle) or a window pane (with a frame) filling the opening."""
    normal = np.array([wall.normal[0], wall.normal[1], 0.0])
    tangent = np.array([wall.tangent[0], wall.tangent[1], 0.0])
    recess = 0.02 if op.kind == "door" else 0.06
    p0 = _wall_point(wall, op.t0, op.z0) - normal * recess
    panel = _quad(p0, tangent * (op.t1 - op.t0), np.array([0, 0, op.z1 - op.z0]), normal)
    sides = []  # the opening's reveal, so nothing looks through the wall
    for t in (op.t0, op.t1):
        base = _wall_point(wall, t, op.z0) - normal * recess
        inward = tangent if t == op.t0 else -tangent
        sides.append(Part(_quad(base, normal * recess, np.array([0, 0, op.z1 - op.z0]), inward), "frame"))
    for z, up in ((op.z0, 1.0), (op.z1, -1.0)):
        base = _wall_point(wall, op.t0, z) - normal * recess
        sides.append(Part(_quad(base, tangent * (op.t1 - op.t0), normal * recess, np.array([0, 0, up])), "frame"))
    parts = [Part(panel, "main" if op.kind == "door" else "glass")] + sides
    if op.kind == "door":
        handle = trimesh.creation.box(extents=(0.04, 0.04, 0.04))
        handle.apply_translation(_wall_point(wall, op.t1 - 0.08, op.z0 + 1.0))  # half proud of the wall
        parts.append(Part(handle, "metal"))
    return parts
