"""The grounding evaluation protocols, exactly as the benchmarks define them.

* ReferIt3D (Nr3D / Sr3D): the model picks one object among the ground-truth
  instances; accuracy overall, easy (at most 2 objects of the target's class,
  i.e. <= 1 distractor) / hard, view-dependent (the utterance contains one of
  ReferIt3D's view words) / view-independent.
* ScanRefer: the chosen box counts when its 3D IoU with the ground-truth box is
  >= 0.25 (Acc@0.25) or >= 0.5 (Acc@0.5); "unique" when the target is the only
  object of its class in the scene, else "multiple".
* The floor every result is printed against: an oracle that knows the target
  class and picks uniformly among that class's objects (its expected score, exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scene3d.geometry.boxes import aabb_iou
from scene3d.structures import Box, Scene, Utterance, is_view_dependent


@dataclass(frozen=True)
class ReferIt3DScores:
    """Accuracies in [0, 1] (NaN for an empty subset) and subset sizes."""

    overall: float
    easy: float
    hard: float
    view_dependent: float
    view_independent: float
    n: int
    n_hard: int
    n_view_dependent: int


@dataclass(frozen=True)
class ScanReferScores:
    """Acc@0.25 / Acc@0.5 overall, unique and multiple, with subset sizes."""

    acc25: float
    acc50: float
    unique25: float
    unique50: float
    multiple25: float
    multiple50: float
    n: int
    n_unique: int


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _same_class(scene: Scene, utterance: Utterance) -> list[int]:
    target = scene.object(utterance.target_id)
    return [o.object_id for o in scene.objects if o.label == target.label]


def _is_hard(scene: Scene, u: Utterance) -> bool:
    """ReferIt3D hard: more than 2 objects of the target's class (from the record, else the scene)."""
    return bool(u.hard) if u.hard is not None else len(_same_class(scene, u)) > 2


def referit3d_accuracy(utterances: Sequence[Utterance], predictions: Sequence[int],
                       scenes: Mapping[str, Scene]) -> ReferIt3DScores:
    """ReferIt3D accuracy of predicted object ids (one per utterance).

    Raises:
        ValueError: the lengths differ, or a scene / target is missing (check the
            data with :func:`scene3d.io.check_targets` first).
    """
    if len(utterances) != len(predictions):
        raise ValueError(f"{len(utterances)} utterances but {len(predictions)} predictions")
    correct = np.array([p == u.target_id for u, p in zip(utterances, predictions)], dtype=bool)
    hard = np.array([_is_hard(_scene(scenes, u), u) for u in utterances], dtype=bool)
    view = np.array([is_view_dependent(u.text) for u in utterances], dtype=bool)
    return ReferIt3DScores(
        overall=_mean(correct), easy=_mean(correct[~hard]), hard=_mean(correct[hard]),
        view_dependent=_mean(correct[view]), view_independent=_mean(correct[~view]),
        n=len(correct), n_hard=int(hard.sum()), n_view_dependent=int(view.sum()),
    )


def _scene(scenes: Mapping[str, Scene], u: Utterance) -> Scene:
    if u.scene_id not in scenes:
        raise ValueError(f"scene {u.scene_id} of utterance {u.utterance_id!r} is not loaded")
    scene = scenes[u.scene_id]
    if u.target_id is None or all(o.object_id != u.target_id for o in scene.objects):
        raise ValueError(f"target {u.target_id} of utterance {u.utterance_id!r} is not in {u.scene_id}")
    return scene


def scanrefer_accuracy(utterances: Sequence[Utterance], predicted_boxes: Sequence[Box | None],
                       scenes: Mapping[str, Scene]) -> ScanReferScores:
    """ScanRefer Acc@0.25 / Acc@0.5 of predicted boxes (axis-aligned 3D IoU with the target's
    box in ``scenes``; None: no answer, a miss)."""
    if len(utterances) != len(predicted_boxes):
        raise ValueError(f"{len(utterances)} utterances but {len(predicted_boxes)} boxes")
    iou = np.array([0.0 if box is None else aabb_iou(box, _scene(scenes, u).object(u.target_id).box)
                    for u, box in zip(utterances, predicted_boxes)])
    unique = np.array([len(_same_class(scenes[u.scene_id], u)) == 1 for u in utterances], dtype=bool)
    hit25, hit50 = iou >= 0.25, iou >= 0.5
    return ScanReferScores(
        acc25=_mean(hit25), acc50=_mean(hit50), unique25=_mean(hit25[unique]), unique50=_mean(hit50[unique]),
        multiple25=_mean(hit25[~unique]), multiple50=_mean(hit50[~unique]), n=len(iou), n_unique=int(unique.sum()),
    )


def class_random_floor(utterances: Sequence[Utterance], scenes: Mapping[str, Scene]) -> tuple[ReferIt3DScores, ScanReferScores]:
    """Expected scores of the oracle-class random chooser (no sampling: exact expectations).

    ReferIt3D: 1 / (objects of the target's class). ScanRefer: the share of those objects
    whose box reaches the IoU threshold with the target's box.
    """
    p, p25, p50 = [], [], []
    for u in utterances:
        scene = _scene(scenes, u)
        same = _same_class(scene, u)
        target = scene.object(u.target_id).box
        ious = np.array([aabb_iou(scene.object(i).box, target) for i in same])
        p.append(1.0 / len(same))
        p25.append(float((ious >= 0.25).mean()))
        p50.append(float((ious >= 0.5).mean()))
    p, p25, p50 = np.array(p), np.array(p25), np.array(p50)
    hard = np.array([_is_hard(scenes[u.scene_id], u) for u in utterances], dtype=bool)
    view = np.array([is_view_dependent(u.text) for u in utterances], dtype=bool)
    unique = np.array([len(_same_class(scenes[u.scene_id], u)) == 1 for u in utterances], dtype=bool)
    refer = ReferIt3DScores(_mean(p), _mean(p[~hard]), _mean(p[hard]), _mean(p[view]), _mean(p[~view]),
                            len(p), int(hard.sum()), int(view.sum()))
    scan = ScanReferScores(_mean(p25), _mean(p50), _mean(p25[unique]), _mean(p50[unique]),
                           _mean(p25[~unique]), _mean(p50[~unique]), len(p), int(unique.sum()))
    return refer, scan
