"""Typed structures passed between every stage (the Scene currency)."""

from scene3d.structures.grounding import GroundingResult, RankedObject
from scene3d.structures.scene import Box, Frame, Mesh, Scene, SceneMeta, SceneObject
from scene3d.structures.utterance import KINDS, VIEW_DEPENDENT_WORDS, Utterance, is_view_dependent

__all__ = [
    "Box", "Frame", "GroundingResult", "RankedObject", "Mesh", "Scene", "SceneMeta", "SceneObject",
    "KINDS", "Utterance", "VIEW_DEPENDENT_WORDS", "is_view_dependent",
]
