"""Build scene graphs for every scene folder of a dataset (graph.json beside scene.json)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from scene3d.graph.build import build_scene_graph
from scene3d.graph.config import RelationConfig
from scene3d.graph.relations import Viewpoint
from scene3d.graph.scene_graph import SceneGraph
from scene3d.graph.stored import GRAPH_FILE, graph_inputs
from scene3d.io import list_scene_folders, load_scene
from scene3d.parallel import map_progress
from scene3d.structures import Scene


def frame_viewpoint(scene: Scene) -> Viewpoint | None:
    """The first frame's camera as an observer (position, optical axis), or None without frames."""
    if not scene.frames:
        return None
    pose = scene.frames[0].cam_to_world
    axis = pose[:3, 2]
    if np.hypot(axis[0], axis[1]) < 1e-6:
        return None
    return Viewpoint(position=pose[:3, 3].copy(), direction=axis.copy())


def build_folder_graph(folder: Path, config: RelationConfig, viewpoint: str) -> SceneGraph:
    """The scene graph of the scene in ``folder`` for the viewpoint mode ``"first_frame"`` (the
    first frame's camera, when the scene has frames) or ``"none"``; the mesh is not read."""
    scene = load_scene(folder, frames=viewpoint == "first_frame", mesh=False)
    vp = frame_viewpoint(scene) if viewpoint == "first_frame" else None
    return build_scene_graph(scene, vp, config)


def _graph_one(folder: Path, config: RelationConfig, viewpoint: str) -> tuple[str, int]:
    inputs = graph_inputs(folder, viewpoint)  # before reading: a scene changed meanwhile then looks stale
    graph = build_folder_graph(folder, config, viewpoint)
    graph.save(folder / GRAPH_FILE, built_from=inputs)
    return graph.scene_id, graph.num_edges()


def graph_dataset(data: str | Path, workers: int = 1, config: RelationConfig | None = None,
                  viewpoint: str = "first_frame", progress: bool = True) -> dict[str, int]:
    """Write ``graph.json`` in each scene folder under ``data``, with the record of what it was
    built from (:mod:`scene3d.graph.stored`); returns edges per scene.

    Args:
        viewpoint: ``"first_frame"`` (egocentric relations from the scene's first camera,
            when it has frames) or ``"none"``.
    """
    if viewpoint not in ("first_frame", "none"):
        raise ValueError(f"viewpoint must be 'first_frame' or 'none', got {viewpoint!r}")
    folders = list_scene_folders(data)
    fn = partial(_graph_one, config=config or RelationConfig(), viewpoint=viewpoint)
    return dict(map_progress(fn, folders, workers, desc="graph", unit="scene", progress=progress))
