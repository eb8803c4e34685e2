"""Grounding: sentences in, objects out."""

from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.evaluation import GroundingReport, evaluate
from scene3d.grounding.grounder import Grounder
from scene3d.grounding.metrics import (
    ReferIt3DScores,
    ScanReferScores,
    class_random_floor,
    referit3d_accuracy,
    scanrefer_accuracy,
)

__all__ = ["Grounder", "GroundingDataset", "GroundingReport", "TextCache", "ReferIt3DScores", "ScanReferScores",
           "class_random_floor", "evaluate", "referit3d_accuracy", "scanrefer_accuracy"]
