"""Scene -> SceneGraph."""

from __future__ import annotations

import numpy as np

from scene3d.graph.config import RelationConfig
from scene3d.graph.relations import ObjectTable, Viewpoint, compute_relations
from scene3d.graph.scene_graph import SceneGraph
from scene3d.structures import Scene


def build_scene_graph(scene: Scene, viewpoint: Viewpoint | None = None,
                      config: RelationConfig | None = None) -> SceneGraph:
    """Compute every spatial relation between the objects of ``scene``.

    Args:
        scene: any Scene with objects (points are not needed: object-only scenes work).
        viewpoint: observer for egocentric left/right/front/behind; None = no egocentric
            relations (there is never a hidden default viewpoint).
        config: thresholds (defaults: :class:`RelationConfig`).

    Returns:
        The SceneGraph. An empty scene gives an empty graph.
    """
    cfg = config or RelationConfig()
    table = ObjectTable.from_scene(scene, cfg)
    room_lo = room_hi = None
    structure = table.structure
    if structure.any():
        room_lo, room_hi = table.lo[structure].min(axis=0), table.hi[structure].max(axis=0)
    elif scene.num_points:
        room_lo, room_hi = scene.points.min(axis=0).astype(np.float64), scene.points.max(axis=0).astype(np.float64)
    relations = compute_relations(table, cfg, viewpoint, room_lo, room_hi)
    return SceneGraph(scene.scene_id, scene.meta.room_type, table, relations, viewpoint, cfg)
