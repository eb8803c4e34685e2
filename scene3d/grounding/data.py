"""Scenes and sentences -> padded tensors for the grounding model.

An object is its box (centre, size; metres), its mean colour and its class name, and
optionally a sample of its points (when the scene has labelled points).
Class names are embedded with the text encoder, so the vocabulary is open:
synthetic classes and ScanNet classes share one space. A predicted object (an instance
proposal) brings a distribution over classes instead of one name (:func:`class_distribution`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from scene3d.models.grounding import GEOMETRY_DIM
from scene3d.models.point_encoder import normalise_object_points
from scene3d.structures import Scene, SceneObject


@dataclass
class ObjectBatch:
    """B scenes, padded to N objects.

    Attributes:
        geometry: (B, N, GEOMETRY_DIM) float, see :func:`scene_geometry`.
        labels: B lists of N class names ("" on padding): each object's ``label`` (a
            predicted object's most likely class).
        mask: (B, N) bool, True on real objects.
        object_ids: (B, N) long, -1 on padding.
        points: (B, N, P, 6) sampled points of each object, xyz turned into the reference
            frame and normalised to the object (see ``normalise_object_points``) + rgb in
            [0, 1]; None in object-list mode.
        point_valid: (B, N, P) bool, False where an object has no points (object lists).
        classes: B lists of N class distributions (:func:`class_distribution`; ``()`` on
            padding); None: every object is ``((label, 1.0),)``.
    """

    geometry: torch.Tensor
    labels: list[list[str]]
    mask: torch.Tensor
    object_ids: torch.Tensor
    points: torch.Tensor | None = None
    point_valid: torch.Tensor | None = None
    classes: list[list[tuple[tuple[str, float], ...]]] | None = None

    def subset(self, b: int) -> ObjectBatch:
        """The first ``b`` rows."""
        cut = (lambda t: None if t is None else t[:b])  # noqa: E731
        return ObjectBatch(self.geometry[:b], self.labels[:b], self.mask[:b], self.object_ids[:b], cut(self.points),
                           cut(self.point_valid), cut(self.classes))

    def to(self, device: torch.device | str) -> ObjectBatch:
        move = (lambda t: None if t is None else t.to(device))  # noqa: E731
        return ObjectBatch(self.geometry.to(device), self.labels, self.mask.to(device), self.object_ids.to(device),
                           move(self.points), move(self.point_valid), self.classes)


def class_distribution(obj: SceneObject) -> tuple[tuple[str, float], ...]:
    """The object's class as (class name, probability) pairs, highest first, summing to 1.

    An annotated object (or a predicted one without ``label_scores``): ``((label, 1.0),)``.
    A predicted object: its ``label_scores`` renormalised over the classes listed (equal
    weights when they are all 0), so the object counts as each class with its share.
    """
    pairs = obj.label_scores
    if not pairs:
        return ((obj.label, 1.0),)
    total = sum(score for _, score in pairs)
    if total <= 0:
        return tuple((name, 1.0 / len(pairs)) for name, _ in pairs)
    return tuple((name, score / total) for name, score in pairs)


def sharpen_labels(scene: Scene, temperature: float) -> Scene:
    """The scene with each predicted object's ``label_scores`` raised to the power 1 / ``temperature``
    and renormalised (the order, so the top class, is kept; annotated objects are unchanged).

    ``temperature`` 1: the scores as they are; below 1: trust the top class more (for a detector
    whose scores are under-confident); 0: the top class only (``((label, 1.0),)``).

    Raises:
        ValueError: a negative temperature.
    """
    if temperature < 0:
        raise ValueError(f"the label temperature must be >= 0, got {temperature}")
    objects = []
    for o in scene.objects:
        if o.label_scores and temperature != 1:
            if temperature == 0:
                pairs = ((o.label, 1.0),)
            else:
                powered = np.array([score for _, score in o.label_scores], dtype=np.float64) ** (1.0 / temperature)
                total = powered.sum()
                shares = powered / total if total > 0 else np.full(len(powered), 1.0 / len(powered))
                pairs = tuple((name, float(w)) for (name, _), w in zip(o.label_scores, shares))
            o = replace(o, label_scores=pairs)
        objects.append(o)
    return replace(scene, objects=objects)


def reference_frame(scene: Scene, viewpoint: tuple[float, ...] | None = None) -> tuple[np.ndarray, float]:
    """(origin (3,), yaw) of the frame the model sees the scene in.

    Without a viewpoint: the centre of the objects' boxes, world axes. With one
    (x, y, z, dx, dy, dz): the viewer's position, turned so the look direction is +y.
    """
    if viewpoint is not None:
        x, y, z, dx, dy, _ = viewpoint
        return np.array([x, y, z]), math.atan2(dy, dx) - math.pi / 2
    centers = np.array([o.box.center for o in scene.objects]).reshape(-1, 3)
    origin = (centers.min(axis=0) + centers.max(axis=0)) / 2 if len(centers) else np.zeros(3)
    origin[2] = 0.0
    return origin, 0.0


def scene_geometry(scene: Scene, origin: np.ndarray, yaw: float) -> np.ndarray:
    """(N, GEOMETRY_DIM) float32 per object, in ``scene.objects`` order.

    Columns: centre (3, metres, in the frame ``origin`` + ``yaw``), size along the frame's
    axes (3, metres), mean colour (3, in [0, 1]; 0.5 when unknown), front direction in the
    frame (cos, sin; zeros when the object has no front) and has-front (1 or 0).
    """
    objs = scene.objects
    out = np.zeros((len(objs), GEOMETRY_DIM), dtype=np.float32)
    if not objs:
        return out
    c, s = math.cos(-yaw), math.sin(-yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    centers = np.array([o.box.center for o in objs], dtype=np.float64)                 # (N, 3)
    sizes = np.array([o.box.size for o in objs], dtype=np.float64)                     # (N, 3)
    box_yaw = np.array([o.box.yaw for o in objs])
    out[:, :3] = (centers - origin) @ rot.T
    swap = np.abs(np.sin(box_yaw - yaw)) > np.abs(np.cos(box_yaw - yaw))              # quarter turn: swap x/y
    out[:, 3:6] = np.where(swap[:, None], sizes[:, [1, 0, 2]], sizes)
    out[:, 6:9] = [0.5] * 3
    for i, o in enumerate(objs):
        if o.color_rgb is not None:
            out[i, 6:9] = o.color_rgb / 255.0
        if o.has_front:
            front = o.oriented_box.yaw - yaw
            out[i, 9:12] = math.cos(front), math.sin(front), 1.0
    return out


def object_points(scene: Scene, yaw: float, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(N, count, 6) float32 sampled points per object of ``scene`` (in ``scene.objects``
    order; xyz turned by -``yaw`` about z, then normalised to the object; rgb in [0, 1]) and
    (N,) bool: whether the object has points (sampled with replacement when it has fewer)."""
    out = np.zeros((len(scene.objects), count, 6), dtype=np.float32)
    has = np.zeros(len(scene.objects), dtype=bool)
    if not scene.num_points:
        return out, has
    order = np.argsort(scene.instance_ids, kind="stable")
    ids = scene.instance_ids[order]
    c, s = math.cos(-yaw), math.sin(-yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    for i, o in enumerate(scene.objects):
        lo, hi = np.searchsorted(ids, o.object_id), np.searchsorted(ids, o.object_id, side="right")
        if hi == lo:
            continue
        pick = order[lo + rng.choice(hi - lo, size=count, replace=hi - lo < count)]
        xyz = scene.points[pick].astype(np.float32) @ rot.T
        rgb = torch.from_numpy(scene.colors[pick].astype(np.float32) / 255.0)
        out[i] = normalise_object_points(torch.from_numpy(xyz), rgb).numpy()
        has[i] = True
    return out, has


def collate_objects(scenes: list[Scene], frames: list[tuple[np.ndarray, float]],
                    points_per_object: int = 0, rng: np.random.Generator | None = None) -> ObjectBatch:
    """Pad all objects of the scenes (any number) into one batch, N = the largest scene's count;
    with ``points_per_object`` > 0 also sample their points (``rng``; default: seed 0).
    ``classes`` is filled when some object carries a class distribution (``label_scores``)."""
    n = max(1, max((len(s.objects) for s in scenes), default=1))
    b = len(scenes)
    geometry = torch.zeros(b, n, GEOMETRY_DIM)
    mask = torch.zeros(b, n, dtype=torch.bool)
    ids = torch.full((b, n), -1, dtype=torch.long)
    labels = [[""] * n for _ in range(b)]
    classes = None
    if any(o.label_scores for scene in scenes for o in scene.objects):
        classes = [[()] * n for _ in range(b)]
    for k, (scene, (origin, yaw)) in enumerate(zip(scenes, frames)):
        objs = scene.objects
        m = len(objs)
        if m:
            geometry[k, :m] = torch.from_numpy(scene_geometry(scene, origin, yaw)[:m])
            mask[k, :m] = True
            ids[k, :m] = torch.tensor([o.object_id for o in objs])
            labels[k][:m] = [o.label for o in objs]
            if classes is not None:
                classes[k][:m] = [class_distribution(o) for o in objs]
    if not points_per_object:
        return ObjectBatch(geometry, labels, mask, ids, classes=classes)
    rng = rng or np.random.default_rng(0)
    points = torch.zeros(b, n, points_per_object, 6)
    valid = torch.zeros(b, n, points_per_object, dtype=torch.bool)
    for k, (scene, (_, yaw)) in enumerate(zip(scenes, frames)):
        pts, has = object_points(scene, yaw, points_per_object, rng)
        m = min(n, len(pts))
        points[k, :m] = torch.from_numpy(pts[:m])
        valid[k, :m] = torch.from_numpy(has[:m])[:, None]
    return ObjectBatch(geometry, labels, mask, ids, points, valid, classes)
