"""How well proposals recover true instances: point-mask IoU, recall and class-agnostic average
precision at an IoU threshold (the ScanNet instance benchmark's mask overlap, without classes), and the
label accuracy of the proposals that found an instance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene3d.instances.propose import PLANE_LABELS, PLANE_SOURCE
from scene3d.structures import Scene


def mask_iou(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every true instance mask with every predicted one, over the same ``N`` points.

    Args:
        truth, predicted: ``(N,)`` int instance id per point, -1 = none.

    Returns:
        (``(T,)`` true ids, ``(P,)`` predicted ids, ``(T, P)`` float64 IoU of their point sets).
    """
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    p_ids, p_inv = np.unique(predicted, return_inverse=True)
    inter = np.zeros((len(t_ids), len(p_ids)))
    np.add.at(inter, (t_inv, p_inv), 1.0)
    t_keep, p_keep = t_ids >= 0, p_ids >= 0
    inter = inter[t_keep][:, p_keep]
    t_size = np.bincount(t_inv, minlength=len(t_ids))[t_keep].astype(np.float64)
    p_size = np.bincount(p_inv, minlength=len(p_ids))[p_keep].astype(np.float64)
    union = t_size[:, None] + p_size[None, :] - inter
    return t_ids[t_keep], p_ids[p_keep], inter / np.maximum(union, 1.0)


@dataclass
class ProposalScores:
    """Matching of one scene's proposals to its true instances at one IoU threshold.

    Attributes:
        threshold: the IoU threshold.
        num_true: true instances counted.
        found: true instances overlapped by some proposal at IoU >= threshold (recall = found / num_true).
        scores / hits: per proposal (highest score first), its score and whether it was a true positive of
            the greedy matching (each true instance matched once), for AP over many scenes.
        label_hits / label_total: proposals matched to an instance whose label equals the instance's, and
            matched proposals (label accuracy = hits / total).
    """

    threshold: float
    num_true: int
    found: int
    scores: list[float]
    hits: list[bool]
    label_hits: int
    label_total: int


def proposal_scores(truth: Scene, predicted: Scene, threshold: float, objects_only: bool = False) -> ProposalScores:
    """Match ``predicted``'s objects (scored proposals) to ``truth``'s instances (same points) by mask IoU.

    Args:
        truth: the scene with its true instances; predicted: the same points with proposals.
        threshold: IoU for a match, in (0, 1].
        objects_only: leave out the true instances labelled wall / floor / ceiling and the proposals found
            as room planes (``raw_label`` ``"plane"``), whatever their label.

    Raises:
        ValueError: the scenes have different point counts, a threshold outside (0, 1].
    """
    if truth.num_points != predicted.num_points:
        raise ValueError(f"proposal_scores: {truth.num_points} true points vs {predicted.num_points} predicted")
    if not 0 < threshold <= 1:
        raise ValueError(f"proposal_scores: threshold must be in (0, 1], got {threshold}")
    t_ids, p_ids, iou = mask_iou(truth.instance_ids, predicted.instance_ids)
    t_label = {o.object_id: o.label for o in truth.objects}
    p_obj = {o.object_id: o for o in predicted.objects}
    t_keep = np.array([not (objects_only and t_label[t] in PLANE_LABELS) for t in t_ids], dtype=bool)
    p_keep = np.array([not (objects_only and p_obj[p].raw_label == PLANE_SOURCE) for p in p_ids], dtype=bool)
    t_ids, p_ids, iou = t_ids[t_keep], p_ids[p_keep], iou[t_keep][:, p_keep]
    p_score = np.array([p_obj[p].score or 0.0 for p in p_ids])
    order = np.argsort(-p_score, kind="stable")
    taken = np.zeros(len(t_ids), dtype=bool)
    hits, label_hits = [], 0
    for p in order:
        cand = np.where(taken, -1.0, iou[:, p])
        best = int(np.argmax(cand)) if len(cand) else -1
        hit = best >= 0 and cand[best] >= threshold
        if hit:
            taken[best] = True
            label_hits += p_obj[p_ids[p]].label == t_label[t_ids[best]]
        hits.append(bool(hit))
    found = int((iou >= threshold).any(axis=1).sum()) if iou.size else 0
    return ProposalScores(threshold, len(t_ids), found, p_score[order].tolist(), hits, label_hits, sum(hits))


def average_precision(results: list[ProposalScores]) -> float:
    """Class-agnostic AP over scenes: the area under the precision-recall curve of all proposals ranked by
    score (precision made non-increasing, all-point interpolation); 0 without true instances."""
    total = sum(r.num_true for r in results)
    if total == 0:
        return 0.0
    scores = np.concatenate([np.asarray(r.scores, dtype=np.float64) for r in results] or [np.zeros(0)])
    hits = np.concatenate([np.asarray(r.hits, dtype=bool) for r in results] or [np.zeros(0, dtype=bool)])
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / total
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * precision).sum())
