"""The scene repository: many scenes on disk, searchable in natural language, by image and by scene."""

from scene3d.repository.embed import SceneEmbedder, SceneEmbedding
from scene3d.repository.index import (
           ImageHit,
           SceneIndex,
           SceneMatch,
           build_faiss,
           scene_hash,
)
from scene3d.repository.localize import (
           Landmarks,
           LocalizationError,
           PoseEstimate,
           estimate_pose,
           pose_error,
)
from scene3d.repository.register import Registration, register_objects

__all__ = ["ImageHit", "Landmarks", "LocalizationError", "PoseEstimate", "Registration", "SceneEmbedder",
           "SceneEmbedding", "SceneIndex", "SceneMatch", "build_faiss", "estimate_pose", "pose_error",
           "register_objects", "scene_hash"]
