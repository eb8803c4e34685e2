"""Scene graphs: spatial relations between the objects of a scene."""

from scene3d.graph.build import build_scene_graph
from scene3d.graph.config import RelationConfig
from scene3d.graph.relations import Viewpoint
from scene3d.graph.scene_graph import SceneGraph, load_graph_json

__all__ = ["RelationConfig", "SceneGraph", "Viewpoint", "build_scene_graph", "load_graph_json"]
