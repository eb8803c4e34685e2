"""Grounding: sentences in, objects out (evaluation protocols so far)."""

from scene3d.grounding.metrics import (
    ReferIt3DScores,
    ScanReferScores,
    class_random_floor,
    referit3d_accuracy,
    scanrefer_accuracy,
)

__all__ = ["ReferIt3DScores", "ScanReferScores", "class_random_floor", "referit3d_accuracy", "scanrefer_accuracy"]
