"""Ground-truth object lists (ReferIt3D protocol) -> object-only Scenes.

The file is ``objects_train_scenes.json.gz``: ``{"scenes": {scene_id: [object, ...]}}``
where an object has ``id``, ``label`` (raw ScanNet category), ``center_position``
and ``size`` (axis-aligned box in the axis-aligned scene frame, metres) and
``avg_rgba``. The scenes have no points: objects carry boxes, labels and mean
colours only. ``box`` is the axis-aligned box of the object's points; where the
file has a CAD-aligned oriented box (``obb`` = centre, size; ``rot_angle``, front =
its local -x face), it becomes ``SceneObject.obb`` with our convention (front = +x)
and ``has_front`` from the file.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np

from scene3d.errors import SceneFormatError, SceneValidationError
from scene3d.io._json import Fields
from scene3d.io.scannet_labels import LabelMap, normalise_label
from scene3d.structures import Box, Scene, SceneMeta, SceneObject


def load_gt_object_scenes(path: str | Path, label_map: LabelMap | None = None,
                          scene_ids: set[str] | None = None) -> dict[str, Scene]:
    """Read the object lists into ``{scene_id: Scene}``.

    Args:
        path: ``.json`` or ``.json.gz``.
        label_map: fills NYU40 / ScanNet-20 labels and the normalised label when given.
        scene_ids: only these scenes (default: all).

    Raises:
        SceneFormatError: naming the file, the scene and the object index.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SceneFormatError(path, f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SceneFormatError(path, f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
    scenes_raw = Fields(data, path, "root").obj.get("scenes")
    if not isinstance(scenes_raw, dict):
        raise SceneFormatError(path, "root.scenes must map scene ids to object lists")
    out = {}
    for scene_id, objs in scenes_raw.items():
        if scene_ids is not None and scene_id not in scene_ids:
            continue
        if not isinstance(objs, list):
            raise SceneFormatError(path, f"scenes.{scene_id} must be a list of objects")
        objects = [_read_object(Fields(o, path, f"scenes.{scene_id}[{i}]"), label_map) for i, o in enumerate(objs)]
        try:
            out[scene_id] = Scene(scene_id=scene_id, objects=objects, meta=SceneMeta(source="gt_objects"))
        except SceneValidationError as exc:
            raise SceneFormatError(path, f"scenes.{scene_id}: {exc}") from None
    return out


def _read_object(f: Fields, label_map: LabelMap | None) -> SceneObject:
    raw = f.str("label")
    info = label_map.lookup(raw) if label_map is not None else None
    rgba = f.array("avg_rgba", (4,), np.uint8, default=None)
    obb = None
    if f.obj.get("obb") is not None:
        params = f.array("obb", (6,))
        # the file's front is the box's local -x face; ours is +x: turn the yaw by pi
        yaw = math.atan2(math.sin(f.float("rot_angle") + math.pi), math.cos(f.float("rot_angle") + math.pi))
        try:
            obb = Box(center=params[:3], size=params[3:], yaw=yaw)
        except SceneValidationError as exc:
            raise SceneFormatError(f.path, f"{f.where}.obb: {exc}") from None
    try:
        return SceneObject(
            object_id=f.int("id"),
            label=info.label if info else normalise_label(raw),
            raw_label=raw,
            box=Box(center=f.array("center_position", (3,)), size=f.array("size", (3,))),
            color_rgb=None if rgba is None else rgba[:3].copy(),
            obb=obb,
            has_front=bool(obb is not None and f.obj.get("has_front") is True),
            nyu40_id=info.nyu40_id if info else None,
            nyu40_label=info.nyu40_label if info else None,
            scannet20_label=info.scannet20_label if info else None,
        )
    except SceneValidationError as exc:
        raise SceneFormatError(f.path, f"{f.where}: {exc}") from None
