"""The scene repository: many scenes on disk, searchable in natural language, by image and by scene."""

from scene3d.repository.embed import SceneEmbedder, SceneEmbedding
from scene3d.repository.index import (
           AddOutcome,
           ImageHit,
           IndexFormatError,
           SceneIndex,
           SceneKeyError,
           SceneMatch,
           SceneRecord,
           build_faiss,
           dataset_collection,
           scene_hash,
           scene_key,
)
from scene3d.repository.localize import (
           Landmarks,
           LocalizationError,
           PoseEstimate,
           estimate_pose,
           pose_error,
)
from scene3d.repository.register import Registration, register_objects

__all__ = ["AddOutcome", "ImageHit", "IndexFormatError", "Landmarks", "LocalizationError", "PoseEstimate",
           "Registration", "SceneEmbedder", "SceneEmbedding", "SceneIndex", "SceneKeyError", "SceneMatch",
           "SceneRecord", "build_faiss", "dataset_collection", "estimate_pose", "pose_error", "register_objects",
           "scene_hash", "scene_key"]
