"""Bring your own scan: a plain PLY / mesh / point cloud with no labels -> Scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scene3d.errors import SceneFormatError
from scene3d.io.ply import read_ply
from scene3d.structures import Mesh, Scene, SceneMeta

_GREY = np.array([128, 128, 128], dtype=np.uint8)


def _colors(visual_colors: np.ndarray | None, n: int) -> np.ndarray:
    if visual_colors is None or len(visual_colors) != n:
        return np.tile(_GREY, (n, 1))
    return np.asarray(visual_colors)[:, :3].astype(np.uint8)


def import_plain(path: str | Path, *, scene_id: str | None = None, sample_points: int = 0,
                 seed: int = 0, with_mesh: bool = False) -> Scene:
    """Read an unlabelled scan: any format trimesh reads (PLY, OBJ, GLB, OFF, STL, ...).

    Args:
        path: the file. A mesh gives its vertices as points (or ``sample_points``
            area-uniform surface samples); a point cloud gives its points.
        scene_id: default: the file stem.
        sample_points: 0 = use the vertices; N > 0 = sample N points on the surface
            (meshes only), with face normals.
        seed: RNG seed for the surface sampling.
        with_mesh: keep the triangle mesh in ``scene.mesh``.

    Returns:
        A Scene with no objects (every ``instance_ids`` is -1); grey when the
        file has no colours. Units are whatever the file uses (metres expected).

    Raises:
        SceneFormatError: unreadable file, no geometry, or NaN/inf coordinates.
    """
    import trimesh  # with scipy, 1-2 s to import: here, so that importing scene3d.io stays light
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    if path.suffix.lower() == ".ply":
        read_ply(path)  # header/size checks with clear messages before trimesh parses it
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:  # trimesh raises many kinds on corrupt files
        raise SceneFormatError(path, f"cannot read geometry ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, trimesh.Scene):
        loaded = loaded.to_geometry() if loaded.geometry else None
    normals = None
    mesh = None
    if isinstance(loaded, trimesh.Trimesh) and len(loaded.faces):
        if not np.isfinite(loaded.vertices).all():
            raise SceneFormatError(path, "vertices contain NaN/inf coordinates")
        vcolors = loaded.visual.vertex_colors if loaded.visual.kind == "vertex" else None
        if sample_points > 0:
            pts, face_idx = trimesh.sample.sample_surface(loaded, sample_points, seed=seed)
            points = pts.astype(np.float32)
            normals = loaded.face_normals[face_idx].astype(np.float32)
            colors = np.tile(_GREY, (len(points), 1))
            if vcolors is not None:  # colour of the face's first vertex
                colors = _colors(vcolors[loaded.faces[face_idx, 0]], len(points))
        else:
            points = loaded.vertices.astype(np.float32)
            normals = loaded.vertex_normals.astype(np.float32)
            colors = _colors(vcolors, len(points))
        if with_mesh:
            mesh = Mesh(vertices=loaded.vertices.astype(np.float32), faces=loaded.faces.astype(np.int32),
                        vertex_colors=_colors(vcolors, len(loaded.vertices)))
    elif isinstance(loaded, (trimesh.PointCloud, trimesh.Trimesh)):
        points = np.asarray(loaded.vertices, dtype=np.float32)
        raw_colors = getattr(loaded, "colors", None)
        colors = _colors(raw_colors if raw_colors is not None and len(raw_colors) else None, len(points))
    else:
        raise SceneFormatError(path, f"no points or mesh found (got {type(loaded).__name__})")
    if len(points) == 0:
        raise SceneFormatError(path, "the file has no points")
    if not np.isfinite(points).all():
        raise SceneFormatError(path, "points contain NaN/inf coordinates")
    if normals is not None and not np.isfinite(normals).all():
        normals = None  # degenerate faces give NaN normals: drop them rather than lie
    return Scene(
        scene_id=scene_id or path.stem,
        points=points,
        colors=colors,
        instance_ids=np.full(len(points), -1, dtype=np.int32),
        normals=normals,
        mesh=mesh,
        meta=SceneMeta(source="ply"),
    )
