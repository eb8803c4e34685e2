"""Mirror augmentation for grounding: a scene reflected across the plane x = 0 with its sentence's
left and right swapped, so a view-dependent referral ("facing the bed, the nightstand on the
left") stays true of the same object. Every human sentence gives a second, equally valid one."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np

from scene3d.structures import Box, Scene, SceneObject

_SWAP = {"left": "right", "right": "left", "leftmost": "rightmost", "rightmost": "leftmost",
         "lefthand": "righthand", "righthand": "lefthand"}
_SIDE = re.compile(r"\b(" + "|".join(_SWAP) + r")\b", re.IGNORECASE)
# "right" as an intensifier ("it is right next to the bed") names no side: it is followed by one of
# these words and not preceded by a word that makes it a side ("on the right next to the door")
_INTENSIFIED = {"next", "beside", "behind", "above", "below", "under", "underneath", "beneath", "by", "near",
                "against", "between", "in", "on", "at", "across", "there", "here", "up", "over", "outside", "inside"}
_SIDE_BEFORE = {"the", "your", "its", "their", "his", "her", "my", "our", "far", "to", "and", "or"}
_WORD = re.compile(r"[a-z]+")


def _intensifier(text: str, match: re.Match) -> bool:
    if match.group(0).lower() != "right":
        return False
    after = _WORD.match(text[match.end():].lstrip().lower())
    before = _WORD.findall(text[:match.start()].lower())
    return bool(after) and after.group(0) in _INTENSIFIED and (not before or before[-1] not in _SIDE_BEFORE)


def mirror_text(text: str) -> str:
    """``text`` with the words left and right swapped (also leftmost / rightmost, left-hand /
    right-hand), keeping a capital first letter; other words, and "right" as an intensifier
    ("it is right next to the bed"), are untouched."""
    def swap(match: re.Match) -> str:
        if _intensifier(text, match):
            return match.group(0)
        word = _SWAP[match.group(0).lower()]
        return word.capitalize() if match.group(0)[0].isupper() else word
    return _SIDE.sub(swap, text)


def _mirror_yaw(yaw: float) -> float:
    """The yaw (radians) of a direction (cos, sin) reflected to (-cos, sin), in (-pi, pi]."""
    mirrored = math.atan2(math.sin(math.pi - yaw), math.cos(math.pi - yaw))
    return math.pi if mirrored == -math.pi else mirrored


def _mirror_box(box: Box) -> Box:
    center = np.array(box.center, dtype=np.float64)
    center[0] = -center[0]
    return replace(box, center=center, yaw=_mirror_yaw(box.yaw))


def _mirror_object(obj: SceneObject) -> SceneObject:
    return replace(obj, box=_mirror_box(obj.box), obb=None if obj.obb is None else _mirror_box(obj.obb))


def mirror_scene(scene: Scene) -> Scene:
    """``scene`` reflected across the world plane x = 0 (metres, z-up): box centres and points
    get x -> -x, a yaw t becomes pi - t (so a front (cos t, sin t) becomes (-cos t, sin t)),
    normals are reflected too. Labels, colours, sizes and ids are kept. Frames and the mesh are
    dropped: a reflected camera pose is not a rigid ``cam_to_world``, and a reflected mesh would
    need its faces re-wound; grounding reads neither."""
    points = scene.points.copy()
    points[:, 0] = -points[:, 0]
    normals = None
    if scene.normals is not None:
        normals = scene.normals.copy()
        normals[:, 0] = -normals[:, 0]
    return replace(scene, points=points, normals=normals, objects=[_mirror_object(o) for o in scene.objects],
                   frames=[], mesh=None)


def mirror_viewpoint(viewpoint: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """The observer (x, y, z, dx, dy, dz) (metres, world frame) of the reflected scene, or None."""
    if viewpoint is None:
        return None
    x, y, z, dx, dy, dz = viewpoint
    return (-x, y, z, -dx, dy, dz)
