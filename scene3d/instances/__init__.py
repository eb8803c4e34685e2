"""Instance proposals and open-vocabulary labels for unlabelled scans (``scene3d segment-instances``):
room planes, a graph over-segmentation merged into objects, labels from a distilled backbone.

See ``docs/instances.md``.
"""

from scene3d.instances.metrics import ProposalScores, average_precision, mask_iou, proposal_scores
from scene3d.instances.planes import Plane, PlaneConfig, find_planes
from scene3d.instances.propose import (
    AGNOSTIC_LABEL,
    LABEL_SOURCES,
    PLANE_LABELS,
    PLANE_SOURCE,
    SEGMENT_SOURCE,
    Labeler,
    ProposalConfig,
    propose,
    strip_labels,
    superpoints,
)
from scene3d.instances.segments import SegmentConfig

__all__ = [
    "AGNOSTIC_LABEL", "LABEL_SOURCES", "PLANE_LABELS", "PLANE_SOURCE", "SEGMENT_SOURCE", "Labeler", "Plane", "PlaneConfig",
    "ProposalConfig", "ProposalScores", "SegmentConfig",
    "average_precision", "find_planes", "mask_iou", "proposal_scores", "propose", "strip_labels", "superpoints",
]
