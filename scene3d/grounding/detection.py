"""The ScanRefer detection protocol: each sentence is grounded among its scene's predicted
objects (instance proposals), and the answer counts when its box overlaps the TRUE target's
box (axis-aligned 3D IoU >= 0.25 / 0.5), next to the same sentences grounded among the true
objects, and the upper bound the proposals allow (some proposal reaches the IoU).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from scene3d.geometry.boxes import aabb_iou
from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.evaluation import choose, predict
from scene3d.grounding.metrics import ScanReferScores, scanrefer_accuracy
from scene3d.models.grounding import GroundingTransformer
from scene3d.structures import Box, Scene


@dataclass(frozen=True)
class DetectionReport:
    """Grounding among predicted objects against grounding among the true ones.

    Attributes:
        true_objects: ScanRefer scores choosing among the annotated objects.
        proposals: ScanRefer scores choosing among the predicted objects (IoU of the chosen
            proposal's box with the true target's box; no proposal in the scene: a miss).
        upper25, upper50: share of sentences whose target some proposal of its scene covers
            at IoU >= 0.25 / 0.5 (the best any chooser can reach on these proposals).
        without_proposals: sentences whose scene has no predicted object.
        proposals_per_scene: mean predicted objects per evaluated scene.
    """

    true_objects: ScanReferScores
    proposals: ScanReferScores
    upper25: float
    upper50: float
    without_proposals: int
    proposals_per_scene: float

    def to_json(self) -> dict:
        return {"true_objects": asdict(self.true_objects), "proposals": asdict(self.proposals),
                "upper_bound": {"acc25": self.upper25, "acc50": self.upper50},
                "without_proposals": self.without_proposals, "proposals_per_scene": self.proposals_per_scene}

    def table(self) -> str:
        """Both protocols and the proposals' upper bound as a text table."""
        rows = [f"{'':<30}{'Acc@0.25':>9}{'Acc@0.5':>9}{'uniq@.25':>9}{'mult@.25':>9}{'n':>7}"]
        for name, s in (("true objects", self.true_objects), ("predicted objects", self.proposals)):
            rows.append(f"{name:<30}{s.acc25:>9.1%}{s.acc50:>9.1%}{s.unique25:>9.1%}{s.multiple25:>9.1%}{s.n:>7}")
        rows.append(f"{'upper bound (any proposal)':<30}{self.upper25:>9.1%}{self.upper50:>9.1%}")
        return "\n".join(rows)


def ground_on_proposals(model: GroundingTransformer, cache: TextCache, data: GroundingDataset,
                        proposals: Mapping[str, Scene], rotations: int = 4) -> list[Box | None]:
    """The box of the predicted object chosen for each example of ``data`` among the objects
    of ``proposals[scene id]`` (metres, world frame); None where that scene is missing or has
    no object."""
    picks = []
    for k, ex in enumerate(data.examples):
        scene = proposals.get(data.scenes[ex.scene].scene_id)
        if scene is not None and scene.objects:
            picks.append((k, scene))
    utts = [data.examples[k].utterance for k, _ in picks]
    ids = choose(model, cache, [scene for _, scene in picks], [u.text for u in utts], [u.viewpoint for u in utts],
                 rotations=rotations)
    boxes: list[Box | None] = [None] * len(data.examples)
    for (k, scene), object_id in zip(picks, ids):
        boxes[k] = scene.object(object_id).box
    return boxes


def evaluate_detection(model: GroundingTransformer, cache: TextCache, data: GroundingDataset,
                       proposals: Mapping[str, Scene], rotations: int = 4,
                       true_objects: ScanReferScores | None = None) -> DetectionReport:
    """The detection protocol on ``data`` (its scenes hold the true objects) with the predicted
    objects of ``proposals`` (scene id -> a scene of predicted objects; the same ids).

    ``true_objects``: the ScanRefer scores of ``data`` among its true objects when already
    computed (e.g. :func:`~scene3d.grounding.evaluation.evaluate`'s), else computed here.
    Answers are averaged over ``rotations`` turns of the scene.
    """
    scenes = {s.scene_id: s for s in data.scenes}
    utts = [ex.utterance for ex in data.examples]
    if true_objects is None:
        preds = predict(model, cache, data, rotations=rotations)
        true_objects = scanrefer_accuracy(utts, [scenes[u.scene_id].object(p).box for u, p in zip(utts, preds)], scenes)
    chosen = scanrefer_accuracy(utts, ground_on_proposals(model, cache, data, proposals, rotations), scenes)
    best = []
    for u in utts:
        target = scenes[u.scene_id].object(u.target_id).box
        found = proposals.get(u.scene_id)
        best.append(max((aabb_iou(o.box, target) for o in found.objects), default=0.0) if found else 0.0)
    best = np.array(best)
    counts = [len(proposals[s].objects) if s in proposals else 0 for s in scenes]
    return DetectionReport(true_objects=true_objects, proposals=chosen,
                           upper25=float((best >= 0.25).mean()) if len(best) else float("nan"),
                           upper50=float((best >= 0.5).mean()) if len(best) else float("nan"),
                           without_proposals=sum(not (u.scene_id in proposals and proposals[u.scene_id].objects)
                                                 for u in utts),
                           proposals_per_scene=float(np.mean(counts)) if counts else 0.0)


__all__ = ["DetectionReport", "evaluate_detection", "ground_on_proposals"]
