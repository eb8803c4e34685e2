"""Mesh primitives for object parts, in an object's local frame (metres).

Local frame of every object: the footprint is centred on the origin in x and y,
the object stands on z = 0, and its front (if it has one) faces local +x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh


@dataclass
class Part:
    """One coloured piece of an object mesh.

    Attributes:
        mesh: the geometry in the object's local frame.
        role: colour role: ``"main"`` takes the object's colour; any other role
            is a key of :data:`scene3d.synth.palette.ROLE_COLORS`.
    """

    mesh: trimesh.Trimesh
    role: str = "main"


def box(lo: tuple[float, float, float], hi: tuple[float, float, float], role: str = "main") -> Part:
    """An axis-aligned box part from its min and max corners."""
    return Part(trimesh.creation.box(bounds=np.array([lo, hi], dtype=np.float64)), role)


def cylinder(center_xy: tuple[float, float], z0: float, z1: float, radius: float,
             role: str = "main", sections: int = 16) -> Part:
    """A vertical cylinder part from z0 to z1."""
    seg = np.array([[center_xy[0], center_xy[1], z0], [center_xy[0], center_xy[1], z1]])
    return Part(trimesh.creation.cylinder(radius=radius, segment=seg, sections=sections), role)


def ellipsoid(center: tuple[float, float, float], radii: tuple[float, float, float], role: str = "main") -> Part:
    """An ellipsoid part (a scaled icosphere)."""
    mesh = trimesh.creation.icosphere(subdivisions=2)
    mesh.apply_scale(radii)
    mesh.apply_translation(center)
    return Part(mesh, role)


def cone(center_xy: tuple[float, float], z0: float, height: float, radius: float, role: str = "main") -> Part:
    """A vertical cone standing on z0."""
    mesh = trimesh.creation.cone(radius=radius, height=height, sections=16)
    mesh.apply_translation((center_xy[0], center_xy[1], z0))
    return Part(mesh, role)


def legs(dx: float, dy: float, z1: float, t: float, inset: float = 0.0, role: str = "main") -> list[Part]:
    """Four square legs of side t at the corners of a dx x dy footprint, from 0 to z1."""
    out = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx = sx * (dx / 2 - inset - t / 2)
            cy = sy * (dy / 2 - inset - t / 2)
            out.append(box((cx - t / 2, cy - t / 2, 0.0), (cx + t / 2, cy + t / 2, z1), role))
    return out
