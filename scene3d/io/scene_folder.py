"""The canonical scene folder: ``points.ply`` + ``scene.json`` + ``frames/`` (+ ``mesh.ply``).

Layout (see ``docs/conventions.md``)::

    <root>/<scene_id>/points.ply   binary PLY: x y z (float32), red green blue (uchar),
                                   [nx ny nz (float32)], instance (int32), label (int32)
    <root>/<scene_id>/scene.json   scene_id, source, room_type, axis_align, label_set, objects
    <root>/<scene_id>/frames/      frames.json, rgb/<name>.png, depth/<name>.png (uint16 mm),
                                   instance/<name>.png (uint16, object id + 1, 0 = none)
    <root>/<scene_id>/mesh.ply     optional triangle mesh

A point's ``label`` indexes ``scene.json``'s ``label_set`` (-1 = none) and
must agree with its instance's object. Writing is atomic per scene folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from scene3d.errors import SceneFormatError, SceneValidationError
from scene3d.io._json import Fields, read_json
from scene3d.io.atomic import atomic_dir, atomic_write_text
from scene3d.io.images import depth_from_mm, depth_to_mm, read_image, write_png
from scene3d.io.ply import read_ply, require_fields, write_ply
from scene3d.structures import Box, Frame, Mesh, Scene, SceneMeta, SceneObject

FORMAT_NAME = "scene3d.scene"
FORMAT_VERSION = 1
_MAX_INSTANCE_PNG = 65534


# ---------------------------------------------------------------------------- write
def save_scene(scene: Scene, root: str | Path) -> Path:
    """Write ``scene`` to ``root/<scene_id>/`` atomically (replacing an old folder).

    Args:
        scene: the scene to write.
        root: the dataset root folder (created if needed).

    Returns:
        The scene folder.

    Raises:
        SceneValidationError: a frame's depth or instance ids cannot be stored
            in 16-bit PNGs (depth beyond 65.535 m, ids beyond 65534).
    """
    folder = Path(root) / scene.scene_id
    with atomic_dir(folder) as tmp:
        _write_points(tmp / "points.ply", scene)
        if scene.mesh is not None:
            _write_mesh(tmp / "mesh.ply", scene.mesh)
        if scene.frames:
            _write_frames(tmp / "frames", scene.frames)
        atomic_write_text(tmp / "scene.json", json.dumps(_scene_json(scene), indent=1))
    return folder


def _scene_json(scene: Scene) -> dict:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "scene_id": scene.scene_id,
        "source": scene.meta.source,
        "room_type": scene.meta.room_type,
        "axis_align": None if scene.meta.axis_align is None else scene.meta.axis_align.tolist(),
        "num_points": scene.num_points,
        "has_normals": scene.normals is not None,
        "has_mesh": scene.mesh is not None,
        "label_set": scene.label_set(),
        "objects": [_object_json(o) for o in scene.objects],
    }


def _box_json(box: Box) -> dict:
    return {"center": box.center.tolist(), "size": box.size.tolist(), "yaw": box.yaw}


def _object_json(obj: SceneObject) -> dict:
    return {
        "object_id": obj.object_id,
        "label": obj.label,
        "raw_label": obj.raw_label,
        "box": _box_json(obj.box),
        "obb": None if obj.obb is None else _box_json(obj.obb),
        "color_rgb": None if obj.color_rgb is None else obj.color_rgb.tolist(),
        "color_name": obj.color_name,
        "material": obj.material,
        "nyu40_id": obj.nyu40_id,
        "nyu40_label": obj.nyu40_label,
        "scannet20_label": obj.scannet20_label,
        "has_front": obj.has_front,
        "score": obj.score,
        "label_scores": [[name, score] for name, score in obj.label_scores],
    }


def _write_points(path: Path, scene: Scene) -> None:
    cols: dict[str, np.ndarray] = {
        "x": scene.points[:, 0], "y": scene.points[:, 1], "z": scene.points[:, 2],
        "red": scene.colors[:, 0], "green": scene.colors[:, 1], "blue": scene.colors[:, 2],
    }
    if scene.normals is not None:
        cols.update(nx=scene.normals[:, 0], ny=scene.normals[:, 1], nz=scene.normals[:, 2])
    cols["instance"] = scene.instance_ids
    cols["label"] = scene.point_labels()
    write_ply(path, cols)


def _write_mesh(path: Path, mesh: Mesh) -> None:
    cols = {"x": mesh.vertices[:, 0], "y": mesh.vertices[:, 1], "z": mesh.vertices[:, 2]}
    if mesh.vertex_colors is not None:
        cols.update(red=mesh.vertex_colors[:, 0], green=mesh.vertex_colors[:, 1], blue=mesh.vertex_colors[:, 2])
    write_ply(path, cols, faces=mesh.faces)


def _write_frames(folder: Path, frames: list[Frame]) -> None:
    records = []
    for fr in frames:
        rec = {"name": fr.name, "K": fr.K.tolist(), "cam_to_world": fr.cam_to_world.tolist(),
               "rgb": f"rgb/{fr.name}.png", "depth": None, "instance": None}
        write_png(folder / rec["rgb"], fr.rgb)
        if fr.depth is not None:
            try:
                mm = depth_to_mm(fr.depth)
            except ValueError as exc:
                raise SceneValidationError(f"frame {fr.name}: {exc}") from None
            rec["depth"] = f"depth/{fr.name}.png"
            write_png(folder / rec["depth"], mm)
        if fr.instance is not None:
            if fr.instance.size and (fr.instance.min() < -1 or fr.instance.max() > _MAX_INSTANCE_PNG):
                raise SceneValidationError(
                    f"frame {fr.name}: instance ids must lie in [-1, {_MAX_INSTANCE_PNG}] to be stored"
                )
            rec["instance"] = f"instance/{fr.name}.png"
            write_png(folder / rec["instance"], (fr.instance + 1).astype(np.uint16))
        records.append(rec)
    atomic_write_text(folder / "frames.json", json.dumps({"frames": records}, indent=1))


# ---------------------------------------------------------------------------- read
def list_scene_folders(root: str | Path) -> list[Path]:
    """The scene folders (those holding a scene.json) directly under ``root``, sorted.

    Raises:
        SceneFormatError: ``root`` is not a folder or holds no scene.
    """
    root = Path(root)
    if not root.is_dir():
        raise SceneFormatError(root, "dataset folder not found")
    folders = sorted(p for p in root.iterdir() if (p / "scene.json").is_file())
    if not folders:
        raise SceneFormatError(root, "no scene folders (with a scene.json) in it")
    return folders


def load_scene_folders(root: str | Path, scene_ids: set[str] | None = None) -> dict[str, Scene]:
    """``{scene id: Scene}`` of the scene folders under ``root`` (:func:`list_scene_folders`)
    whose folder name is in ``scene_ids`` (default: all), without frames or meshes.

    Raises:
        SceneFormatError: ``root`` is not a folder or holds no scene, or a scene is unreadable.
    """
    folders = [f for f in list_scene_folders(root) if scene_ids is None or f.name in scene_ids]
    return {s.scene_id: s for s in (load_scene(f, frames=False, mesh=False) for f in folders)}


def read_split(root: str | Path, split: str) -> set[str]:
    """The scene ids of a dataset's split: the lines of ``<root>/splits/<split>.txt``.

    Raises:
        SceneFormatError: the split file does not exist.
    """
    path = Path(root) / "splits" / f"{split}.txt"
    if not path.is_file():
        raise SceneFormatError(path, "not found: generate the data with scene3d generate (it writes splits/)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def scene_file_digests(folder: str | Path, *, frames: bool) -> dict[str, str | None]:
    """SHA-256 (hex) of the files a scene's objects, points and (with ``frames``) camera poses are
    read from: ``scene.json``, ``points.ply`` and ``frames/frames.json``, by path relative to
    ``folder``; None for an absent file. Equal digests mean :func:`load_scene` reads the same
    objects, points and poses (images are not hashed)."""
    folder = Path(folder)
    names = ["scene.json", "points.ply"] + (["frames/frames.json"] if frames else [])
    out: dict[str, str | None] = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            out[name] = None
            continue
        with path.open("rb") as fh:
            out[name] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


def load_scene(folder: str | Path, *, frames: bool = True, mesh: bool = True) -> Scene:
    """Read a canonical scene folder.

    Args:
        folder: ``<root>/<scene_id>``.
        frames: load the posed frames (images are decoded eagerly).
        mesh: load ``mesh.ply`` when present.

    Raises:
        SceneFormatError: naming the file and the problem, for a missing file,
            malformed JSON or PLY, NaN coordinates, wrong dtypes, an unknown
            label, or ids inconsistent with the objects.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SceneFormatError(folder, "scene folder not found")
    json_path = folder / "scene.json"
    f = Fields(read_json(json_path), json_path, "scene")
    if f.str("format") != FORMAT_NAME:
        raise f.fail("format", f"must be {FORMAT_NAME!r} (is this a scene3d scene folder?)")
    if f.int("version") != FORMAT_VERSION:
        raise f.fail("version", f"is {f.obj['version']}, this scene3d reads version {FORMAT_VERSION}")
    label_set = f.list("label_set")
    if not all(isinstance(x, str) for x in label_set) or len(set(label_set)) != len(label_set):
        raise f.fail("label_set", "must be a list of distinct strings")
    objects = [_read_object(Fields(o, json_path, f"objects[{i}]")) for i, o in enumerate(f.list("objects"))]
    ids = [o.object_id for o in objects]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SceneFormatError(json_path, f"duplicate object ids {dupes}")
    unknown = sorted({o.label for o in objects} - set(label_set))
    if unknown:
        raise SceneFormatError(json_path, f"objects use labels {unknown} that are not in label_set")
    meta = SceneMeta(
        source=f.str("source"),
        room_type=f.str("room_type", None),
        axis_align=f.array("axis_align", (4, 4), default=None),
    )
    points, colors, normals, instance = _read_points(
        folder / "points.ply", f.int("num_points"), f.bool("has_normals"), objects, label_set
    )
    scene_frames = _read_frames(folder / "frames") if frames and (folder / "frames").exists() else []
    scene_mesh = None
    if mesh and f.bool("has_mesh", False):
        scene_mesh = _read_mesh(folder / "mesh.ply")
    try:
        return Scene(
            scene_id=f.str("scene_id"), points=points, colors=colors, instance_ids=instance,
            objects=objects, normals=normals, frames=scene_frames, mesh=scene_mesh, meta=meta,
        )
    except SceneValidationError as exc:
        raise SceneFormatError(folder, str(exc)) from None


def _read_box(f: Fields, key: str) -> Box:
    box = Fields(f.obj.get(key), f.path, f"{f.where}.{key}")
    return Box(center=box.array("center", (3,)), size=box.array("size", (3,)), yaw=box.float("yaw"))


def _read_object(f: Fields) -> SceneObject:
    color = f.array("color_rgb", (3,), np.uint8, default=None)
    try:
        return SceneObject(
            object_id=f.int("object_id"),
            label=f.str("label"),
            raw_label=f.str("raw_label", ""),
            box=_read_box(f, "box"),
            obb=_read_box(f, "obb") if f.obj.get("obb") is not None else None,
            color_rgb=color,
            color_name=f.str("color_name", None),
            material=f.str("material", None),
            nyu40_id=f.int("nyu40_id", None),
            nyu40_label=f.str("nyu40_label", None),
            scannet20_label=f.str("scannet20_label", None),
            has_front=f.bool("has_front", False),
            score=f.float("score", None),
            label_scores=_read_label_scores(f),
        )
    except SceneValidationError as exc:
        raise SceneFormatError(f.path, f"{f.where}: {exc}") from None


def _read_label_scores(f: Fields) -> tuple[tuple[str, float], ...]:
    pairs = f.list("label_scores", [])
    if not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], (int, float)) and not isinstance(p[1], bool) for p in pairs):
        raise f.fail("label_scores", "must be a list of [class name, score] pairs")
    return tuple((name, float(score)) for name, score in pairs)


_POINT_DTYPES = {
    "x": "<f4", "y": "<f4", "z": "<f4", "red": "|u1", "green": "|u1", "blue": "|u1",
    "nx": "<f4", "ny": "<f4", "nz": "<f4", "instance": "<i4", "label": "<i4",
}


def _read_points(path: Path, num_points: int, has_normals: bool, objects: list[SceneObject],
                 label_set: list[str]):
    vertex = read_ply(path).get("vertex")
    if vertex is None:
        raise SceneFormatError(path, "PLY has no 'vertex' element")
    names = ["x", "y", "z", "red", "green", "blue", "instance", "label"]
    if has_normals:
        names += ["nx", "ny", "nz"]
    require_fields(path, vertex, "vertex", tuple(names))
    for name in names:
        got = vertex.dtype[name]
        if got.str != np.dtype(_POINT_DTYPES[name]).str:
            raise SceneFormatError(path, f"property '{name}' has dtype {got}, expected {np.dtype(_POINT_DTYPES[name])}")
    if len(vertex) != num_points:
        raise SceneFormatError(path, f"has {len(vertex)} points, scene.json says {num_points}")
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise SceneFormatError(path, f"{int(bad.sum())} points have NaN/inf coordinates (first at row {int(np.argmax(bad))})")
    colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    normals = None
    if has_normals:
        normals = np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], axis=1).astype(np.float32)
        if not np.isfinite(normals).all():
            raise SceneFormatError(path, "normals contain NaN/inf")
    instance = np.ascontiguousarray(vertex["instance"], dtype=np.int32)
    labels = np.ascontiguousarray(vertex["label"], dtype=np.int32)
    if labels.size and (labels.min() < -1 or labels.max() >= len(label_set)):
        raise SceneFormatError(
            path, f"label values must lie in [-1, {len(label_set) - 1}] (the label_set of scene.json); "
                  f"found {int(labels.min())}..{int(labels.max())}: unknown label"
        )
    index = {name: i for i, name in enumerate(label_set)}
    lut = {o.object_id: index[o.label] for o in objects}
    if instance.size:
        ids = np.unique(instance)
        orphans = [int(i) for i in ids if i != -1 and int(i) not in lut]
        if ids[0] < -1 or orphans:
            raise SceneFormatError(path, f"instance ids {orphans[:10] or [int(ids[0])]} match no object in scene.json")
        expect = np.full_like(labels, -1)
        for obj_id, lab in lut.items():
            expect[instance == obj_id] = lab
        wrong = labels != expect
        if wrong.any():
            raise SceneFormatError(
                path, f"{int(wrong.sum())} points have a label that disagrees with their object's label"
            )
    return points, colors, normals, instance


def _read_mesh(path: Path) -> Mesh:
    data = read_ply(path)
    vertex, face = data.get("vertex"), data.get("face")
    if vertex is None or face is None:
        raise SceneFormatError(path, "mesh PLY needs 'vertex' and 'face' elements")
    require_fields(path, vertex, "vertex", ("x", "y", "z"))
    require_fields(path, face, "face", ("vertex_indices",))
    verts = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    faces = faces_to_array(path, face["vertex_indices"])
    colors = None
    if {"red", "green", "blue"} <= set(vertex.dtype.names):
        colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    try:
        return Mesh(vertices=verts, faces=faces, vertex_colors=colors)
    except SceneValidationError as exc:
        raise SceneFormatError(path, str(exc)) from None


def faces_to_array(path: Path, faces: np.ndarray) -> np.ndarray:
    """PLY face lists -> (F, 3) int32; SceneFormatError unless every face is a triangle."""
    if len(faces) == 0:
        return np.zeros((0, 3), dtype=np.int32)
    if faces.dtype != object:
        arr = np.asarray(faces)
    else:
        if any(len(f) != 3 for f in faces):
            raise SceneFormatError(path, "mesh faces must all be triangles")
        arr = np.stack(faces)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SceneFormatError(path, "mesh faces must all be triangles")
    return arr.astype(np.int32)


def _read_frames(folder: Path) -> list[Frame]:
    path = folder / "frames.json"
    top = Fields(read_json(path), path, "frames.json")
    out = []
    for i, rec in enumerate(top.list("frames")):
        f = Fields(rec, path, f"frames[{i}]")
        name = f.str("name")
        rgb = read_image(folder / f.str("rgb"), mode="rgb")
        depth_file, inst_file = f.str("depth", None), f.str("instance", None)
        depth = depth_from_mm(read_image(folder / depth_file, mode="u16")) if depth_file else None
        instance = (read_image(folder / inst_file, mode="u16").astype(np.int32) - 1) if inst_file else None
        try:
            out.append(Frame(name=name, rgb=rgb, K=f.array("K", (3, 3)),
                             cam_to_world=f.array("cam_to_world", (4, 4)), depth=depth, instance=instance))
        except SceneValidationError as exc:
            raise SceneFormatError(path, f"frames[{i}]: {exc}") from None
    return out
