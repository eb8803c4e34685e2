"""The scene repository: many scenes on disk, searchable in natural language."""

from scene3d.repository.embed import SceneEmbedder, SceneEmbedding
from scene3d.repository.index import SceneIndex, SceneMatch, build_faiss, scene_hash
from scene3d.repository.register import Registration, register_objects

__all__ = ["Registration", "SceneEmbedder", "SceneEmbedding", "SceneIndex", "SceneMatch", "build_faiss", "register_objects",
           "scene_hash"]
