"""The scene repository: many scenes on disk, searchable in natural language."""

from scene3d.repository.embed import SceneEmbedder, SceneEmbedding
from scene3d.repository.index import SceneIndex, build_faiss, index_scenes, scene_hash

__all__ = ["SceneEmbedder", "SceneEmbedding", "SceneIndex", "build_faiss", "index_scenes", "scene_hash"]
