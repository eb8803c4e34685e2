"""Grounding: sentences in, objects out."""

from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.grounder import Grounder
from scene3d.grounding.metrics import (
    ReferIt3DScores,
    ScanReferScores,
    class_random_floor,
    referit3d_accuracy,
    scanrefer_accuracy,
)

__all__ = ["Grounder", "GroundingDataset", "TextCache","ReferIt3DScores", "ScanReferScores", "class_random_floor", "referit3d_accuracy", "scanrefer_accuracy"]
