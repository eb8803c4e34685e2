"""Import one ScanNet scan folder into a Scene.

Reads ``<scan>_vh_clean_2.ply`` (mesh vertices = points), the over-segmentation
``<scan>_vh_clean_2.0.010000.segs.json``, the instance aggregation whose
``segmentsFile`` names that segmentation, a label map TSV, ``<scan>.txt``
(``axisAlignment``, ``sceneType``) and, when present, posed RGB frames
(``posed_rgb/``: ``*.jpg`` + ``*.pose_cam2world.txt`` + ``intrinsic_color.txt``;
or the exporter layout ``color/*.jpg`` + ``pose/*.txt`` + ``intrinsic/intrinsic_color.txt``).

Object ids are the aggregation ``objectId`` values, i.e. the ids ScanRefer and
ReferIt3D use. With ``align=True`` points, boxes and camera poses are moved
into the axis-aligned frame (where ScanRefer / ReferIt3D boxes live) and the
matrix is kept in ``scene.meta.axis_align``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scene3d.errors import SceneFormatError, SceneValidationError
from scene3d.geometry.boxes import aabb, min_area_box
from scene3d.geometry.transforms import apply_transform, rotate_normals
from scene3d.io._json import Fields, read_json
from scene3d.io.images import read_image
from scene3d.io.ply import read_ply, require_fields
from scene3d.io.scannet_labels import LabelMap, normalise_label
from scene3d.io.scene_folder import faces_to_array
from scene3d.structures import Frame, Mesh, Scene, SceneMeta, SceneObject

LABEL_MAP_NAMES = ("scannetv2-labels.combined.tsv", "scannet-labels.combined.tsv")


@dataclass
class ScanNetImportReport:
    """What an import found besides the scene (printed by the CLI)."""

    num_labelled_points: int = 0
    conflicting_points: int = 0          # vertices claimed by two instances (last one kept)
    unmapped_labels: list[str] = field(default_factory=list)  # raw labels the label map lacks
    skipped_frames: list[str] = field(default_factory=list)   # frames with invalid (inf) poses
    label_map: str | None = None
    aggregation: str | None = None
    axis_alignment: str | None = None    # the file the alignment matrix came from


def _find_label_map(folder: Path, label_map: str | Path | None) -> Path | None:
    if label_map is not None:
        return Path(label_map)
    for name in LABEL_MAP_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def read_scan_meta(path: Path) -> dict[str, str]:
    """Parse ``<scan>.txt`` (``key = value`` lines)."""
    if not path.is_file():
        raise SceneFormatError(path, "scan meta file not found")
    out = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise SceneFormatError(path, f"line {lineno} is not 'key = value': {line[:60]!r}")
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _read_matrix(path: Path, text: str, shape: tuple[int, int], what: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError:
        raise SceneFormatError(path, f"{what} has non-numeric entries") from None
    if values.size != shape[0] * shape[1]:
        raise SceneFormatError(path, f"{what} needs {shape[0] * shape[1]} numbers, got {values.size}")
    return values.reshape(shape)


def read_intrinsics(path: Path) -> np.ndarray:
    """A pinhole ``(3, 3)`` K from a text file of 9 numbers (3x3) or 16 (ScanNet's 4x4 ``intrinsic_color.txt``).

    Raises:
        SceneFormatError: missing file, wrong count, non-numeric entries, or not a pinhole K.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "intrinsics file not found")
    text = path.read_text()
    n = len(text.split())
    k = _read_matrix(path, text, (4, 4) if n == 16 else (3, 3), "intrinsics")[:3, :3]
    if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[2], [0, 0, 1]):
        raise SceneFormatError(path, "intrinsics need positive focal lengths and a last row [0, 0, 1]")
    return k


ALIGNMENT_JSON = Path("meta") / "referit3d_scans_axis_alignment_matrices.json"


def _find_axis_alignment(folder: Path, scan: str, scan_meta: dict[str, str], source: str | Path | None,
                         report: ScanNetImportReport) -> np.ndarray | None:
    """The 4x4 alignment matrix of ``scan``, or None when no source has it."""
    if source is None:
        if "axisAlignment" in scan_meta:
            source = folder / f"{scan}.txt"
        elif (folder.parent.parent / ALIGNMENT_JSON).is_file():
            source = folder.parent.parent / ALIGNMENT_JSON
        else:
            return None
    source = Path(source)
    if source.suffix == ".json":
        table = read_json(source)
        if not isinstance(table, dict):
            raise SceneFormatError(source, "must map scan ids to 16 numbers")
        if scan not in table:
            return None
        values = table[scan]
        text = " ".join(str(v) for v in values) if isinstance(values, list) else ""
    else:
        meta = read_scan_meta(source)
        if "axisAlignment" not in meta:
            raise SceneFormatError(source, "has no axisAlignment line")
        text = meta["axisAlignment"]
    matrix = _read_matrix(source, text, (4, 4), f"axis alignment of {scan}")
    if not np.isfinite(matrix).all():
        raise SceneFormatError(source, f"axis alignment of {scan} has NaN/inf")
    report.axis_alignment = str(source)
    return matrix


def _read_instances(folder: Path, scan: str, n: int, report: ScanNetImportReport):
    """(N,) int32 instance id per vertex and {object id: raw label}; all -1 without annotation."""
    segs_path = folder / f"{scan}_vh_clean_2.0.010000.segs.json"
    instance = np.full(n, -1, dtype=np.int32)
    if not segs_path.is_file():
        return instance, {}
    segs = Fields(read_json(segs_path), segs_path, "segs")
    count = len(segs.list("segIndices"))
    if count != n:
        raise SceneFormatError(segs_path, f"segIndices has {count} entries, the mesh has {n} vertices")
    seg_idx = segs.array("segIndices", (n,), np.int64)
    candidates = [folder / f"{scan}.aggregation.json", folder / f"{scan}_vh_clean.aggregation.json"]
    agg_path = None
    for cand in candidates:
        if cand.is_file():
            seg_file = Fields(read_json(cand), cand, "aggregation").str("segmentsFile", "")
            if seg_file.endswith(segs_path.name) or agg_path is None:
                agg_path = cand
            if seg_file.endswith(segs_path.name):
                break
    if agg_path is None:
        return instance, {}
    report.aggregation = agg_path.name
    agg = Fields(read_json(agg_path), agg_path, "aggregation")
    labels: dict[int, str] = {}
    seg_keys: list[np.ndarray] = []
    seg_objs: list[np.ndarray] = []
    for i, group in enumerate(agg.list("segGroups")):
        g = Fields(group, agg_path, f"segGroups[{i}]")
        obj_id = g.int("objectId") if "objectId" in group else g.int("id")
        if obj_id < 0:
            raise g.fail("objectId", "must be >= 0")
        if obj_id in labels:
            raise g.fail("objectId", f"{obj_id} appears twice")
        labels[obj_id] = g.str("label")
        segments = g.list("segments")
        seg_keys.append(np.asarray(segments, dtype=np.int64) if segments else np.zeros(0, np.int64))
        seg_objs.append(np.full(len(segments), obj_id, dtype=np.int32))
    if seg_keys:
        keys, objs = np.concatenate(seg_keys), np.concatenate(seg_objs)
        order = np.argsort(keys, kind="stable")
        keys, objs = keys[order], objs[order]
        # a segment listed by two groups: the later group wins (ScanNet's own exporter does the same)
        last = np.r_[keys[1:] != keys[:-1], True]
        u_keys, u_objs = keys[last], objs[last]
        pos = np.clip(np.searchsorted(u_keys, seg_idx), 0, len(u_keys) - 1)
        hit = u_keys[pos] == seg_idx
        instance[hit] = u_objs[pos[hit]]
        dup_keys = np.unique(keys[~last])
        report.conflicting_points = int(np.isin(seg_idx, dup_keys).sum())
    return instance, labels


def _frame_files(folder: Path) -> tuple[list[tuple[str, Path, Path]], Path | None]:
    """[(name, image, pose)] and the colour intrinsics file, for either frame layout."""
    posed = folder / "posed_rgb"
    if posed.is_dir():
        items = [(p.stem, p, posed / f"{p.stem}.pose_cam2world.txt") for p in sorted(posed.glob("*.jpg"))]
        return items, posed / "intrinsic_color.txt"
    color = folder / "color"
    if color.is_dir():
        items = [(p.stem, p, folder / "pose" / f"{p.stem}.txt") for p in sorted(color.glob("*.jpg"))]
        return items, folder / "intrinsic" / "intrinsic_color.txt"
    return [], None


def _read_frames(folder: Path, align: np.ndarray | None, image_scale: float, max_frames: int | None,
                 report: ScanNetImportReport) -> list[Frame]:
    items, k_path = _frame_files(folder)
    if not items:
        return []
    k4 = _read_matrix(k_path, k_path.read_text() if k_path.is_file() else "", (4, 4), "intrinsics")
    frames = []
    for name, image_path, pose_path in items[:max_frames]:
        if not pose_path.is_file():
            raise SceneFormatError(pose_path, f"pose file of frame {name} not found")
        pose = _read_matrix(pose_path, pose_path.read_text(), (4, 4), "pose")
        if not np.isfinite(pose).all():
            report.skipped_frames.append(name)  # ScanNet marks lost tracking with -inf poses
            continue
        rgb = read_image(image_path, mode="rgb")
        K = k4[:3, :3].copy()
        if image_scale != 1.0:
            from PIL import Image

            h, w = rgb.shape[:2]
            size = (max(1, round(w * image_scale)), max(1, round(h * image_scale)))
            rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
            K[0] *= size[0] / w
            K[1] *= size[1] / h
        if align is not None:
            pose = align @ pose
        try:
            frames.append(Frame(name=name, rgb=rgb, K=K, cam_to_world=pose))
        except SceneValidationError as exc:
            raise SceneFormatError(pose_path, str(exc)) from None
    return frames


def import_scannet(
    folder: str | Path,
    *,
    label_map: str | Path | None = None,
    align: bool = True,
    axis_alignment: str | Path | None = None,
    box_mode: str = "aabb",
    with_mesh: bool = False,
    with_frames: bool = True,
    image_scale: float = 1.0,
    max_frames: int | None = None,
) -> tuple[Scene, ScanNetImportReport]:
    """Import one ScanNet scan folder.

    Args:
        folder: the scan folder (its name is the scene id, e.g. ``scene0000_00``).
        label_map: a ``scannetv2-labels.combined.tsv``; default: the one in the folder.
            Without any map, labels are the normalised raw labels and NYU40 is unknown.
        align: move the scan into its axis-aligned frame (see ``axis_alignment``).
        axis_alignment: where the matrix comes from: a ScanNet ``<scan>.txt`` or a
            JSON ``{scan: 16 numbers}`` (ReferIt3D's ``scans_axis_alignment_matrices.json``).
            Default: ``<scan>.txt`` when it has ``axisAlignment``, else
            ``<folder>/../../meta/referit3d_scans_axis_alignment_matrices.json``;
            no alignment (and ``report.axis_alignment`` None) when neither has it.
        box_mode: ``"aabb"`` (axis-aligned, the ScanRefer convention) or ``"obb"``
            (minimum-area box oriented about z).
        with_mesh: keep the mesh faces in ``scene.mesh``.
        with_frames: load posed RGB frames when the folder has them.
        image_scale: resize frames by this factor (K follows).
        max_frames: load at most this many frames.

    Returns:
        (scene, report). Points are float32 metres; normals come from the mesh.

    Raises:
        SceneFormatError: a required file is missing or malformed.
    """
    folder = Path(folder)
    scan = folder.name
    if box_mode not in ("aabb", "obb"):
        raise ValueError(f"box_mode must be 'aabb' or 'obb', got {box_mode!r}")
    if not folder.is_dir():
        raise SceneFormatError(folder, "scan folder not found (a ScanNet scan: <scene id>/<scene id>_vh_clean_2.ply, "
                                       "aggregation and segmentation files)")
    ply_path = folder / f"{scan}_vh_clean_2.ply"
    data = read_ply(ply_path)
    if "vertex" not in data:
        raise SceneFormatError(ply_path, "PLY has no 'vertex' element")
    vertex = data["vertex"]
    require_fields(ply_path, vertex, "vertex", ("x", "y", "z", "red", "green", "blue"))
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    if not np.isfinite(points).all():
        raise SceneFormatError(ply_path, "vertices contain NaN/inf coordinates")
    colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    faces = faces_to_array(ply_path, data["face"]["vertex_indices"]) if "face" in data else None
    normals = None
    if faces is not None and len(faces):
        if faces.min() < 0 or faces.max() >= len(points):
            raise SceneFormatError(ply_path, "faces index vertices out of range")
        import trimesh  # 1-2 s to import: only when a mesh is asked for

        mesh_tm = trimesh.Trimesh(vertices=points, faces=faces, process=False)
        normals = np.asarray(mesh_tm.vertex_normals, dtype=np.float32)

    report = ScanNetImportReport()
    meta_path = folder / f"{scan}.txt"
    scan_meta = read_scan_meta(meta_path) if meta_path.is_file() else {}
    axis_align = None
    if align:
        axis_align = _find_axis_alignment(folder, scan, scan_meta, axis_alignment, report)
    if axis_align is not None:
        points = apply_transform(axis_align, points)
        if normals is not None:
            normals = rotate_normals(axis_align, normals)

    instance, raw_labels = _read_instances(folder, scan, len(points), report)
    map_path = _find_label_map(folder, label_map)
    lmap = LabelMap.read(map_path) if map_path is not None else None
    report.label_map = None if map_path is None else str(map_path)
    report.num_labelled_points = int((instance >= 0).sum())

    objects = []
    order = np.argsort(instance, kind="stable")
    sorted_ids = instance[order]
    for obj_id, raw in sorted(raw_labels.items()):
        lo, hi = np.searchsorted(sorted_ids, [obj_id, obj_id + 1])
        idx = order[lo:hi]
        if len(idx) == 0:
            continue  # an annotated object with no vertex on this mesh: nothing to ground
        info = lmap.lookup(raw) if lmap is not None else None
        if lmap is not None and info is None and raw not in report.unmapped_labels:
            report.unmapped_labels.append(raw)
        pts = points[idx]
        box = aabb(pts) if box_mode == "aabb" else min_area_box(pts)
        objects.append(SceneObject(
            object_id=obj_id,
            label=info.label if info else normalise_label(raw),
            raw_label=raw,
            box=box,
            color_rgb=np.round(colors[idx].mean(axis=0)).astype(np.uint8),
            nyu40_id=info.nyu40_id if info else None,
            nyu40_label=info.nyu40_label if info else None,
            scannet20_label=info.scannet20_label if info else None,
        ))
    kept = {o.object_id for o in objects}
    instance[~np.isin(instance, list(kept))] = -1

    frames = _read_frames(folder, axis_align, image_scale, max_frames, report) if with_frames else []
    mesh = Mesh(vertices=points, faces=faces, vertex_colors=colors) if with_mesh and faces is not None else None
    room = scan_meta.get("sceneType")
    scene = Scene(
        scene_id=scan, points=points, colors=colors, instance_ids=instance, objects=objects,
        normals=normals, frames=frames, mesh=mesh,
        meta=SceneMeta(source="scannet", room_type=normalise_label(room) if room else None,
                       axis_align=axis_align),
    )
    return scene, report
