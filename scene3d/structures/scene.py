"""The Scene currency: every stage of scene3d reads and writes these.

Conventions (see ``docs/conventions.md``): world right-handed, z up, metres.
Colours are uint8 in structures and on disk. Cameras follow OpenCV (x right,
y down, z forward) and poses are ``cam_to_world`` 4x4 matrices.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from scene3d.errors import SceneValidationError
from scene3d.structures._checks import check_array, check_rigid


@dataclass(frozen=True)
class Box:
    """A 3D box, oriented about the world z axis.

    Attributes:
        center: (3,) float64, metres, world frame.
        size: (3,) float64, full extents along the box's local x, y, z, metres (>= 0).
        yaw: rotation about world +z in radians, in (-pi, pi]; the box's local
            +x axis points along (cos yaw, sin yaw, 0). For classes with a front,
            the front faces local +x.
    """

    center: np.ndarray
    size: np.ndarray
    yaw: float = 0.0

    def __post_init__(self) -> None:
        check_array("Box.center", self.center, np.float64, (3,), finite=True)
        check_array("Box.size", self.size, np.float64, (3,), finite=True)
        if (self.size < 0).any():
            raise SceneValidationError(f"Box.size must be >= 0, got {self.size}")
        if not isinstance(self.yaw, float) or not math.isfinite(self.yaw):
            raise SceneValidationError(f"Box.yaw must be a finite float, got {self.yaw!r}")

    @classmethod
    def from_min_max(cls, lo: np.ndarray, hi: np.ndarray) -> Box:
        """Axis-aligned box from its (3,) min and max corners (metres)."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        return cls(center=(lo + hi) / 2.0, size=hi - lo, yaw=0.0)

    def corners(self) -> np.ndarray:
        """(8, 3) float64 corners; bottom four first (z = center - h/2), counter-clockwise."""
        sx, sy, sz = self.size / 2.0
        local = np.array(
            [[-sx, -sy, -sz], [sx, -sy, -sz], [sx, sy, -sz], [-sx, sy, -sz],
             [-sx, -sy, sz], [sx, -sy, sz], [sx, sy, sz], [-sx, sy, sz]]
        )
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return local @ rot.T + self.center

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which of the (N, 3) points (metres) lie inside or on the box."""
        local = points - self.center
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        x = local[:, 0] * c + local[:, 1] * s
        y = -local[:, 0] * s + local[:, 1] * c
        half = self.size / 2.0 + 1e-9
        return (np.abs(x) <= half[0]) & (np.abs(y) <= half[1]) & (np.abs(local[:, 2]) <= half[2])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Box):
            return NotImplemented
        return (
            np.array_equal(self.center, other.center)
            and np.array_equal(self.size, other.size)
            and self.yaw == other.yaw
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class SceneObject:
    """One object instance of a scene.

    Attributes:
        object_id: instance id, >= 0, unique in the scene; the value of
            ``Scene.instance_ids`` on its points. For ScanNet it is the
            aggregation ``objectId`` (the id ScanRefer / ReferIt3D use).
        label: normalised class name (lower case, e.g. ``"kitchen cabinet"``).
        raw_label: the label as annotated in the source.
        box: its 3D box (axis-aligned has ``yaw == 0``).
        color_rgb: (3,) uint8 mean colour, or None.
        color_name: a named colour ("red", ...), or None.
        material: a material name ("wood", ...), or None.
        nyu40_id: NYU40 class id (1..40), or None when unknown.
        nyu40_label: NYU40 class name, or None.
        scannet20_label: ScanNet-20 benchmark class name, or None when the
            object is not one of the 20 classes.
        has_front: whether the yaw (of ``obb`` when given, else of ``box``) carries the
            object's intrinsic front (local +x).
        obb: a second, oriented box when the source has one besides ``box`` (e.g. a CAD
            alignment of a scanned object whose ``box`` is the axis-aligned box of its
            points); None when ``box`` is already the object's oriented box.
        score: None for an annotated object; for a predicted one (an instance proposal),
            its confidence in [0, 1].
        label_scores: for a predicted object, its top classes as ``(class name, score)``
            pairs, scores in [0, 1] and not increasing, ``label`` first; empty for an
            annotated object. Consumers that can weigh uncertain labels read these.
    """

    object_id: int
    label: str
    box: Box
    raw_label: str = ""
    color_rgb: np.ndarray | None = None
    color_name: str | None = None
    material: str | None = None
    nyu40_id: int | None = None
    nyu40_label: str | None = None
    scannet20_label: str | None = None
    has_front: bool = False
    obb: Box | None = None
    score: float | None = None
    label_scores: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.object_id, bool) or not isinstance(self.object_id, (int, np.integer)):
            raise SceneValidationError(f"object_id must be an int, got {self.object_id!r}")
        self.object_id = int(self.object_id)
        if self.object_id < 0:
            raise SceneValidationError(f"object_id must be >= 0, got {self.object_id}")
        if not isinstance(self.label, str) or not self.label.strip():
            raise SceneValidationError(
                f"object {self.object_id}: label must be a non-empty string, got {self.label!r}"
            )
        if not isinstance(self.box, Box):
            raise SceneValidationError(f"object {self.object_id}: box must be a Box")
        if self.obb is not None and not isinstance(self.obb, Box):
            raise SceneValidationError(f"object {self.object_id}: obb must be a Box or None")
        if self.color_rgb is not None:
            check_array(f"object {self.object_id} color_rgb", self.color_rgb, np.uint8, (3,))
        if self.nyu40_id is not None and not 0 <= int(self.nyu40_id) <= 40:
            raise SceneValidationError(
                f"object {self.object_id}: nyu40_id must be in 0..40, got {self.nyu40_id}"
            )
        self._check_prediction()

    def _check_prediction(self) -> None:
        where = f"object {self.object_id}"
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, (float, int, np.floating)):
                raise SceneValidationError(f"{where}: score must be a float or None, got {self.score!r}")
            self.score = float(self.score)
            if not 0.0 <= self.score <= 1.0:
                raise SceneValidationError(f"{where}: score must be in [0, 1], got {self.score}")
        pairs = tuple(self.label_scores)
        if pairs and self.score is None:
            raise SceneValidationError(f"{where}: label_scores are for predicted objects (give a score)")
        checked = []
        for pair in pairs:
            if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str)
                    or not pair[0].strip() or isinstance(pair[1], bool)
                    or not isinstance(pair[1], (float, int, np.floating)) or not 0.0 <= float(pair[1]) <= 1.0):
                raise SceneValidationError(
                    f"{where}: label_scores must be (class name, score in [0, 1]) pairs, got {pair!r}")
            checked.append((pair[0], float(pair[1])))
        if any(a[1] < b[1] for a, b in zip(checked, checked[1:])):
            raise SceneValidationError(f"{where}: label_scores must be sorted by score, highest first")
        if checked and checked[0][0] != self.label:
            raise SceneValidationError(
                f"{where}: label {self.label!r} must be the first of label_scores ({checked[0][0]!r})")
        self.label_scores = tuple(checked)

    @property
    def predicted(self) -> bool:
        """Whether the object is a prediction (an instance proposal with a score), not an annotation."""
        return self.score is not None

    @property
    def oriented_box(self) -> Box:
        """``obb`` when given, else ``box``: the box whose yaw is the object's orientation."""
        return self.obb if self.obb is not None else self.box

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SceneObject):
            return NotImplemented
        return _arrays_equal(self.color_rgb, other.color_rgb) and all(
            getattr(self, f) == getattr(other, f)
            for f in ("object_id", "label", "box", "raw_label", "color_name", "material",
                      "nyu40_id", "nyu40_label", "scannet20_label", "has_front", "obb", "score",
                      "label_scores")
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Frame:
    """A posed camera view of a scene.

    Attributes:
        name: unique within the scene (used as the file stem on disk).
        rgb: (H, W, 3) uint8.
        K: (3, 3) float64 pinhole intrinsics in pixels (OpenCV; pixel centres at
            integer + 0.5 when converting to rays).
        cam_to_world: (4, 4) float64 rigid pose, OpenCV camera (x right, y down,
            z forward) to world (z up, metres).
        depth: (H, W) float32 metres along the camera z axis, 0 = invalid; or None.
        instance: (H, W) int32 object id per pixel, -1 = none; or None.
    """

    name: str
    rgb: np.ndarray
    K: np.ndarray
    cam_to_world: np.ndarray
    depth: np.ndarray | None = None
    instance: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise SceneValidationError(f"Frame.name must be a non-empty file stem, got {self.name!r}")
        check_array(f"frame {self.name} rgb", self.rgb, np.uint8, (None, None, 3))
        h, w = self.rgb.shape[:2]
        check_array(f"frame {self.name} K", self.K, np.float64, (3, 3), finite=True)
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0 or not np.allclose(self.K[2], [0, 0, 1]):
            raise SceneValidationError(
                f"frame {self.name}: K must have positive focal lengths and last row [0, 0, 1]"
            )
        check_rigid(f"frame {self.name} cam_to_world", self.cam_to_world)
        if self.depth is not None:
            check_array(f"frame {self.name} depth", self.depth, np.float32, (h, w), finite=True)
            if (self.depth < 0).any():
                raise SceneValidationError(f"frame {self.name}: depth must be >= 0 (0 = invalid)")
        if self.instance is not None:
            check_array(f"frame {self.name} instance", self.instance, np.int32, (h, w))

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass
class Mesh:
    """A triangle mesh. vertices (V, 3) float32 metres, faces (F, 3) int32,
    optional vertex_colors (V, 3) uint8."""

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_array("Mesh.vertices", self.vertices, np.float32, (None, 3), finite=True)
        check_array("Mesh.faces", self.faces, np.int32, (None, 3))
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise SceneValidationError("Mesh.faces index vertices out of range")
        if self.vertex_colors is not None:
            check_array("Mesh.vertex_colors", self.vertex_colors, np.uint8, (len(self.vertices), 3))


@dataclass
class SceneMeta:
    """Where a scene came from.

    Attributes:
        source: e.g. ``"scannet"``, ``"synthetic"``, ``"ply"``, ``"gt_objects"``.
        room_type: e.g. ``"bedroom"``, or None.
        axis_align: (4, 4) float64 transform that was applied to the source
            coordinates to get the stored ones (ScanNet ``axisAlignment``), or None.
    """

    source: str = "unknown"
    room_type: str | None = None
    axis_align: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.axis_align is not None:
            check_array("SceneMeta.axis_align", self.axis_align, np.float64, (4, 4), finite=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SceneMeta):
            return NotImplemented
        return (_arrays_equal(self.axis_align, other.axis_align) and self.source == other.source
                and self.room_type == other.room_type)

    __hash__ = None  # type: ignore[assignment]


def _empty_points() -> np.ndarray:
    return np.zeros((0, 3), dtype=np.float32)


@dataclass
class Scene:
    """An indoor scene: a labelled point cloud with object instances.

    An *object-only* scene (ground-truth object lists) has zero points and its
    objects carry only boxes, labels and mean colours.

    Attributes:
        scene_id: non-empty, no path separators (it is the folder name on disk).
        points: (N, 3) float32 metres, world frame, finite.
        colors: (N, 3) uint8.
        instance_ids: (N,) int32 object id per point, -1 = no object.
        objects: objects with unique ids; every id in ``instance_ids`` (other
            than -1) must belong to one of them.
        normals: (N, 3) float32 unit normals, or None.
        frames: posed views (may be empty).
        mesh: the surface mesh, or None.
        meta: provenance.
    """

    scene_id: str
    points: np.ndarray = field(default_factory=_empty_points)
    colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.uint8))
    instance_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int32))
    objects: list[SceneObject] = field(default_factory=list)
    normals: np.ndarray | None = None
    frames: list[Frame] = field(default_factory=list)
    mesh: Mesh | None = None
    meta: SceneMeta = field(default_factory=SceneMeta)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.scene_id, str)
            or not self.scene_id
            or any(c in self.scene_id for c in "/\\")
            or self.scene_id in (".", "..")
        ):
            raise SceneValidationError(f"scene_id must be a plain folder name, got {self.scene_id!r}")
        check_array("points", self.points, np.float32, (None, 3), finite=True)
        n = len(self.points)
        check_array("colors", self.colors, np.uint8, (n, 3))
        check_array("instance_ids", self.instance_ids, np.int32, (n,))
        if self.normals is not None:
            check_array("normals", self.normals, np.float32, (n, 3), finite=True)
        ids = [o.object_id for o in self.objects]
        dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
        if dupes:
            raise SceneValidationError(f"scene {self.scene_id}: duplicate object ids {dupes}")
        if n:
            used = np.unique(self.instance_ids)
            if used[0] < -1:
                raise SceneValidationError(
                    f"scene {self.scene_id}: instance_ids must be >= -1, found {int(used[0])}"
                )
            orphans = sorted(set(used[used >= 0].tolist()) - set(ids))
            if orphans:
                raise SceneValidationError(
                    f"scene {self.scene_id}: instance ids {orphans[:10]} have points but no SceneObject"
                )
        names = [f.name for f in self.frames]
        if len(set(names)) != len(names):
            raise SceneValidationError(f"scene {self.scene_id}: duplicate frame names")

    # ------------------------------------------------------------------ queries
    @property
    def num_points(self) -> int:
        return len(self.points)

    def object(self, object_id: int) -> SceneObject:
        """The object with ``object_id``; KeyError naming the scene when absent."""
        for obj in self.objects:
            if obj.object_id == object_id:
                return obj
        raise KeyError(f"scene {self.scene_id} has no object {object_id}")

    def label_set(self) -> list[str]:
        """Sorted unique object labels; a point's label index refers to this list."""
        return sorted({o.label for o in self.objects})

    def point_labels(self) -> np.ndarray:
        """(N,) int32 index into :meth:`label_set` per point, -1 = unlabelled."""
        labels = self.label_set()
        index = {name: i for i, name in enumerate(labels)}
        lut_ids = np.array([o.object_id for o in self.objects], dtype=np.int64)
        lut_lab = np.array([index[o.label] for o in self.objects], dtype=np.int32)
        out = np.full(self.num_points, -1, dtype=np.int32)
        has = self.instance_ids >= 0
        if has.any():
            order = np.argsort(lut_ids)
            pos = np.searchsorted(lut_ids[order], self.instance_ids[has])
            out[has] = lut_lab[order][pos]
        return out

    def objects_by_label(self) -> dict[str, int]:
        """Object count per label, most frequent first."""
        return dict(Counter(o.label for o in self.objects).most_common())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scene):
            return NotImplemented
        return (
            self.scene_id == other.scene_id
            and _arrays_equal(self.points, other.points)
            and _arrays_equal(self.colors, other.colors)
            and _arrays_equal(self.instance_ids, other.instance_ids)
            and _arrays_equal(self.normals, other.normals)
            and self.objects == other.objects
            and self.meta == other.meta
            and len(self.frames) == len(other.frames)
            and all(_frames_equal(a, b) for a, b in zip(self.frames, other.frames))
            and _meshes_equal(self.mesh, other.mesh)
        )

    __hash__ = None  # type: ignore[assignment]


def _arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and np.array_equal(a, b)


def _frames_equal(a: Frame, b: Frame) -> bool:
    return a.name == b.name and all(
        _arrays_equal(getattr(a, f), getattr(b, f))
        for f in ("rgb", "K", "cam_to_world", "depth", "instance")
    )


def _meshes_equal(a: Mesh | None, b: Mesh | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(
        _arrays_equal(getattr(a, f), getattr(b, f)) for f in ("vertices", "faces", "vertex_colors")
    )
