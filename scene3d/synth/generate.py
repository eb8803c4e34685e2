"""The procedural scene generator: seed -> Scene with mesh, labelled points and posed RGB-D frames."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh

from scene3d.geometry.camera import intrinsics, look_at
from scene3d.structures import Box, Mesh, Scene, SceneMeta, SceneObject
from scene3d.synth.layout import Layout
from scene3d.synth.palette import COLORS, ROLE_COLORS, jitter
from scene3d.synth.parts import Part
from scene3d.synth.raycast import FrameRenderer
from scene3d.synth.rooms import RECIPES, ROOM_SIZES
from scene3d.synth.shell import ceiling_part, floor_part, opening_part, wall_parts

ROOM_TYPES = tuple(RECIPES)
_WALL_COLORS = ("white", "beige", "gray")
_FLOOR_COLORS = ("brown", "beige", "gray")


@dataclass
class SynthConfig:
    """How a synthetic scene is made.

    Attributes:
        num_points: target number of surface points (small objects get at least
            ``min_object_points``, so the total can be a little higher).
        min_object_points: floor on the points of any object.
        noise: standard deviation (metres) of Gaussian noise on point positions (0 = exact).
        holes: number of spherical holes (radius 0.1-0.3 m) cut into the cloud, like
            unscanned areas; an object never loses all its points.
        num_frames: posed RGB-D frames along a loop through the room (0 = none).
        width / height: frame size in pixels.
        hfov_deg: horizontal field of view of the frames.
        texture: amplitude of the frames' surface texture (see
            :class:`~scene3d.synth.raycast.FrameRenderer`; 0 = flat colours).
    """

    num_points: int = 60_000
    min_object_points: int = 60
    noise: float = 0.0
    holes: int = 0
    num_frames: int = 6
    width: int = 320
    height: int = 240
    hfov_deg: float = 75.0
    texture: float = 0.5


@dataclass
class _Item:
    label: str
    parts: list[Part]
    transform: np.ndarray
    color: np.ndarray
    color_name: str | None
    material: str | None
    has_front: bool
    yaw: float


def _furnish(rng: np.random.Generator, room_type: str) -> Layout:
    (w0, w1), (d0, d1) = ROOM_SIZES[room_type]
    lay = Layout(rng, width=round(float(rng.uniform(w0, w1)), 2), depth=round(float(rng.uniform(d0, d1)), 2),
                 height=round(float(rng.uniform(2.5, 2.9)), 2))
    door_wall = int(rng.integers(4))
    lay.add_opening("door", door_wall, 0.9, 0.0, 2.1)
    n_windows = int(rng.integers(0 if room_type == "bathroom" else 1, 3))
    for w in rng.permutation([x for x in range(4) if x != door_wall])[:n_windows]:
        lay.add_opening("window", int(w), round(float(rng.uniform(0.8, 1.4)), 2), 0.9, min(2.1, lay.height - 0.3))
    RECIPES[room_type](lay)
    return lay


def _items(lay: Layout, rng: np.random.Generator) -> list[_Item]:
    """Shell first (floor, walls, ceiling, doors, windows), then the furniture, in id order."""
    identity = np.eye(4)
    wall_name = str(rng.choice(_WALL_COLORS))
    floor_name = str(rng.choice(_FLOOR_COLORS))
    wall_rgb = jitter(COLORS[wall_name], rng, 6)
    items = [_Item("floor", [floor_part(lay)], identity, jitter(COLORS[floor_name], rng, 6), floor_name, "wood", False, 0.0)]
    for i, wall in enumerate(lay.walls):
        ops = [o for o in lay.openings if o.wall == i]
        items.append(_Item("wall", wall_parts(wall, lay.height, ops), identity, wall_rgb, wall_name, None, True, wall.yaw))
    items.append(_Item("ceiling", [ceiling_part(lay)], identity, np.array(ROLE_COLORS["ceiling"], np.uint8),
                       "white", None, False, 0.0))
    for op in lay.openings:
        wall = lay.walls[op.wall]
        name = "white" if op.kind == "window" else str(rng.choice(["brown", "white", "gray"]))
        items.append(_Item(op.kind, opening_part(wall, op), identity, jitter(COLORS[name], rng, 6),
                           name, "wood" if op.kind == "door" else "glass", True, wall.yaw))
    for obj in lay.objects:
        items.append(_Item(obj.category.name, obj.parts, obj.transform(), obj.color_rgb, obj.color_name,
                           obj.material, obj.category.has_front, obj.yaw))
    return items


def _item_mesh(item: _Item) -> tuple[trimesh.Trimesh, np.ndarray]:
    """The item's world mesh and (F, 3) uint8 face colours."""
    meshes, colors = [], []
    for part in item.parts:
        m = part.mesh.copy()
        m.apply_transform(item.transform)
        meshes.append(m)
        rgb = item.color if part.role == "main" else np.array(ROLE_COLORS[part.role], np.uint8)
        colors.append(np.tile(rgb, (len(m.faces), 1)))
    return trimesh.util.concatenate(meshes), np.concatenate(colors).astype(np.uint8)


def _box_of(item: _Item, mesh: trimesh.Trimesh) -> Box:
    """Bounds in the item's yaw frame (so fronts stay meaningful), at least 2 cm thick."""
    c, s = math.cos(item.yaw), math.sin(item.yaw)
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> yaw frame
    local = mesh.vertices @ rot.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    size = np.maximum(hi - lo, 0.02)
    center = rot.T @ ((lo + hi) / 2)
    yaw = math.atan2(math.sin(item.yaw), math.cos(item.yaw))
    return Box(center=np.round(center, 6), size=np.round(size, 6), yaw=float(yaw))


def _sample_points(meshes: list[trimesh.Trimesh], colors: list[np.ndarray], cfg: SynthConfig,
                   rng: np.random.Generator):
    areas = np.array([m.area for m in meshes])
    counts = np.maximum(cfg.min_object_points, np.round(cfg.num_points * areas / areas.sum())).astype(int)
    pts, nrm, col, inst = [], [], [], []
    for obj_id, (mesh, fc, n) in enumerate(zip(meshes, colors, counts)):
        p, face = trimesh.sample.sample_surface(mesh, int(n), seed=rng)
        pts.append(p)
        nrm.append(mesh.face_normals[face])
        col.append(fc[face])
        inst.append(np.full(len(p), obj_id))
    points, normals = np.concatenate(pts), np.concatenate(nrm)
    colors_all, instance = np.concatenate(col).astype(np.int16), np.concatenate(inst).astype(np.int32)
    colors_all = np.clip(colors_all + rng.integers(-6, 7, size=colors_all.shape), 0, 255)
    keep = np.ones(len(points), dtype=bool)
    for _ in range(cfg.holes):
        center = points[rng.integers(len(points))]
        hole = np.linalg.norm(points - center, axis=1) < rng.uniform(0.1, 0.3)
        survivors = np.bincount(instance[keep & ~hole], minlength=len(meshes))
        if (survivors[np.unique(instance[hole])] > 0).all():  # never erase a whole object
            keep &= ~hole
    points, normals, colors_all, instance = points[keep], normals[keep], colors_all[keep], instance[keep]
    if cfg.noise > 0:
        points = points + rng.normal(0.0, cfg.noise, size=points.shape)
    return (points.astype(np.float32), normals.astype(np.float32), colors_all.astype(np.uint8), instance)


def _camera_path(lay: Layout, boxes: list[Box], cfg: SynthConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Poses on a loop around the room centre at eye height, each looking across the room."""
    center = np.array([lay.width / 2, lay.depth / 2])
    phase = rng.uniform(0, 2 * np.pi)
    poses = []
    for k in range(cfg.num_frames):
        a = phase + 2 * np.pi * k / max(cfg.num_frames, 1)
        for scale in (0.3, 0.2, 0.1, 0.0):
            xy = center + scale * np.array([lay.width * math.cos(a), lay.depth * math.sin(a)])
            eye = np.array([xy[0], xy[1], float(rng.uniform(1.35, 1.6))])
            if not any(b.contains(eye[None])[0] for b in boxes):
                break
        target_xy = center - 0.6 * (xy - center) + rng.uniform(-0.3, 0.3, 2)
        if np.linalg.norm(target_xy - xy) < 0.5:
            target_xy = xy + 1.0 * np.array([math.cos(a + np.pi), math.sin(a + np.pi)])
        poses.append(look_at(eye, np.array([target_xy[0], target_xy[1], float(rng.uniform(0.6, 0.9))])))
    return poses


def generate_scene(scene_id: str, seed: int, room_type: str | None = None,
                   config: SynthConfig | None = None) -> Scene:
    """Generate one furnished room.

    Args:
        scene_id: the id of the scene.
        seed: everything (room, layout, colours, points, camera path) follows from it.
        room_type: one of :data:`ROOM_TYPES`; random when None.
        config: sampling and rendering settings.

    Returns:
        A Scene (metres, z up) with: objects (shell: floor, 4 walls, ceiling, doors,
        windows; then furniture) whose boxes carry a yaw (``has_front`` says when it
        is the object's front); ``points``/``colors``/``normals``/``instance_ids``
        sampled on the surfaces; the triangle ``mesh``; ``frames`` with RGB, depth
        (mm-exact) and instance masks.
    """
    cfg = config or SynthConfig()
    rng = np.random.default_rng(seed)
    if room_type is None:
        room_type = str(rng.choice(ROOM_TYPES))
    if room_type not in RECIPES:
        raise ValueError(f"unknown room type {room_type!r}; choose from {list(RECIPES)}")
    lay = _furnish(rng, room_type)
    items = _items(lay, rng)
    meshes, colors = zip(*(_item_mesh(it) for it in items))
    objects = [
        SceneObject(object_id=i, label=it.label, raw_label=it.label, box=_box_of(it, m), color_rgb=it.color,
                    color_name=it.color_name, material=it.material, has_front=it.has_front)
        for i, (it, m) in enumerate(zip(items, meshes))
    ]
    points, normals, point_colors, instance = _sample_points(list(meshes), list(colors), cfg, rng)
    full = trimesh.util.concatenate(list(meshes))
    face_colors = np.concatenate(colors)
    face_instance = np.concatenate([np.full(len(m.faces), i, np.int32) for i, m in enumerate(meshes)])
    frames = []
    if cfg.num_frames:
        renderer = FrameRenderer(full, face_colors, face_instance, cfg.texture, texture_seed=seed)
        K = intrinsics(cfg.width, cfg.height, cfg.hfov_deg)
        furniture = [o.box for o in objects if o.label not in ("floor", "wall", "ceiling", "door", "window")]
        for k, pose in enumerate(_camera_path(lay, furniture, cfg, rng)):
            frames.append(renderer.render(f"{k:04d}", K, pose, cfg.width, cfg.height))
    vertex_colors = np.zeros((len(full.vertices), 3), np.uint8)
    vertex_colors[full.faces.reshape(-1)] = np.repeat(face_colors, 3, axis=0)
    return Scene(
        scene_id=scene_id, points=points, colors=point_colors, instance_ids=instance, normals=normals,
        objects=objects, frames=frames,
        mesh=Mesh(vertices=full.vertices.astype(np.float32), faces=full.faces.astype(np.int32),
                  vertex_colors=vertex_colors),
        meta=SceneMeta(source="synthetic", room_type=room_type),
    )
