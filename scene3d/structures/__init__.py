"""Typed structures passed between every stage (the Scene currency)."""

from scene3d.structures.grounding import GroundingResult, RankedObject, SearchHit
from scene3d.structures.scene import Box, Frame, Mesh, Scene, SceneMeta, SceneObject
from scene3d.structures.utterance import (
    KINDS,
    VIEW_DEPENDENT_WORDS,
    Utterance,
    is_view_dependent,
)

__all__ = [
    "KINDS",
    "VIEW_DEPENDENT_WORDS",
    "Box",
    "Frame",
    "GroundingResult",
    "Mesh",
    "RankedObject",
    "Scene",
    "SceneMeta",
    "SceneObject",
    "SearchHit",
    "Utterance",
    "is_view_dependent",
]
