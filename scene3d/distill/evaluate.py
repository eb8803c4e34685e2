"""Zero-shot open-vocabulary 3D semantic segmentation (OpenScene protocol) and per-view consistency.

Protocol: every class name is embedded by the teacher's text encoder; a point's prediction is the
class of highest cosine with its feature; one confusion matrix is accumulated over all evaluated
scenes; IoU_k = TP / (TP + FP + FN) per class present in the ground truth; mIoU is their mean.
A point without a feature (e.g. seen by no view in 2D fusion) has no prediction: it counts as a
false negative of its class and a false positive of none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scene3d.distill.fusion import fuse_teacher
from scene3d.distill.student import DistillStudent
from scene3d.distill.trainer import point_features
from scene3d.render import PointPixelMatches
from scene3d.structures import Scene
from scene3d.teachers import Teacher


def point_classes(scene: Scene, class_names: list[str]) -> torch.Tensor:
    """``(N,)`` int64 index of each point's object class in ``class_names``; -1 = unlabelled or absent."""
    labels = scene.label_set()
    lut = np.array([class_names.index(n) if n in class_names else -1 for n in labels] + [-1], dtype=np.int64)
    idx = scene.point_labels().astype(np.int64)
    return torch.from_numpy(lut[np.where(idx >= 0, idx, len(labels))])


def predict_classes(features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """``(..., D)`` features, ``(K, D)`` unit text embeddings -> ``(...)`` argmax-cosine class; -1 for zero features."""
    scores = torch.nn.functional.normalize(features.float(), dim=-1) @ text.float().T  # (..., K)
    pred = scores.argmax(dim=-1)
    return torch.where(features.abs().sum(dim=-1) > 0, pred, torch.full_like(pred, -1))


ENSEMBLE_RULES = ("cosine", "confidence", "product")
"""How :func:`ensemble_features` combines the fused teacher and the student on a seen point."""


FUSED_WEIGHT = 0.5
"""The fused teacher's exponent in the ``product`` ensemble (chosen on training rooms, ``benchmarks/RESULTS.md``)."""


def ensemble_features(fused: torch.Tensor, student: torch.Tensor, text: torch.Tensor, rule: str = "product",
                      temperature: float = 0.07, fused_weight: float = FUSED_WEIGHT) -> torch.Tensor:
    """The 2D-3D ensemble: per point, combine the fused teacher feature and the student's; points
    without a fused feature (zero: no view sees them) take the student's.

    Rules for a seen point (``ENSEMBLE_RULES``):

    * ``"cosine"`` (OpenScene's rule): the feature whose best class cosine is higher;
    * ``"confidence"``: the feature whose best class probability ``max_k softmax(unit(f) . T^T / tau)_k``
      is higher (calibrated at the distillation temperature rather than on raw cosines, which differ
      in scale between the averaged teacher and a contrastively trained student);
    * ``"product"`` (the default; best measured, ``benchmarks/RESULTS.md``): the product of the two
      class distributions at any common ``tau``, the teacher's raised to ``fused_weight``
      (``p_f^w p_s``); since ``log softmax`` is linear in the unit feature up to a per-point
      constant, its argmax class is the argmax cosine of ``w unit(f) + unit(s)``, which is returned
      normalised (zero in the measure-zero case ``w unit(f) = -unit(s)``).

    Args:
        fused: ``(N, D)`` fused teacher features, zero where unseen.
        student: ``(N, D)`` student features.
        text: ``(K, D)`` unit class-name embeddings.
        rule: one of ``ENSEMBLE_RULES``.
        temperature: ``tau > 0`` of ``"confidence"`` (cosine units).
        fused_weight: ``w >= 0`` of ``"product"`` (1: the plain product; 0: the student alone).

    Returns:
        ``(N, D)`` unit features.

    Raises:
        ValueError: unknown rule, ``temperature <= 0`` or ``fused_weight < 0``.
    """
    if rule not in ENSEMBLE_RULES:
        raise ValueError(f"ensemble_features: rule must be one of {ENSEMBLE_RULES}, got {rule!r}")
    if not temperature > 0:
        raise ValueError(f"ensemble_features: temperature must be > 0, got {temperature}")
    if not fused_weight >= 0:
        raise ValueError(f"ensemble_features: fused_weight must be >= 0, got {fused_weight}")
    f, s = F.normalize(fused.float(), dim=-1), F.normalize(student.float(), dim=-1)
    seen = fused.abs().sum(dim=-1) > 0  # (N,)
    if rule == "product":
        return torch.where(seen[:, None], F.normalize(fused_weight * f + s, dim=-1), s)
    t = text.float()
    if rule == "cosine":
        best_f, best_s = (f @ t.T).max(dim=-1).values, (s @ t.T).max(dim=-1).values  # (N,)
    else:
        best_f = torch.softmax(f @ t.T / temperature, dim=-1).max(dim=-1).values  # (N,)
        best_s = torch.softmax(s @ t.T / temperature, dim=-1).max(dim=-1).values  # (N,)
    return torch.where((seen & (best_f > best_s))[:, None], f, s)


def superpoint_mean(features: torch.Tensor, superpoints: torch.Tensor) -> torch.Tensor:
    """Superpoint voting: ``(N, D)`` features -> ``(N, D)``, each point's row the mean of the unit
    features of its superpoint (``superpoints``: ``(N,)`` int64 index per point, e.g.
    :func:`scene3d.instances.superpoints`). Zero rows (no feature) add nothing but count; a
    superpoint without any feature stays zero (no prediction).

    Raises:
        ValueError: ``superpoints`` is not one non-negative index per point.
    """
    if superpoints.shape != features.shape[:1] or (superpoints.numel() and int(superpoints.min()) < 0):
        raise ValueError(f"superpoint_mean: need one index >= 0 per point ({features.shape[0]}), got shape "
                         f"{tuple(superpoints.shape)}")
    n = int(superpoints.max()) + 1 if superpoints.numel() else 0
    total = features.new_zeros(n, features.shape[1], dtype=torch.float32)
    total.index_add_(0, superpoints, F.normalize(features.float(), dim=-1))
    return (total / torch.bincount(superpoints, minlength=n).clamp(min=1)[:, None])[superpoints]


def confusion_matrix(pred: torch.Tensor, gt: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K + 1)`` int64 counts ``[gt, pred]`` over entries with ``gt >= 0``; column K = no prediction."""
    keep = gt >= 0
    p = torch.where(pred[keep] >= 0, pred[keep], torch.full_like(pred[keep], num_classes))
    flat = gt[keep] * (num_classes + 1) + p
    return torch.bincount(flat, minlength=num_classes * (num_classes + 1)).view(num_classes, num_classes + 1)


@dataclass
class SegmentationScores:
    """mIoU over the classes present in the ground truth, overall accuracy, per-class IoU (NaN = absent)."""

    miou: float
    accuracy: float
    iou: list[float]


def segmentation_scores(confusion: torch.Tensor) -> SegmentationScores:
    """Scores from a ``(K, K + 1)`` confusion matrix (see :func:`confusion_matrix`)."""
    c = confusion.double()
    k = c.shape[0]
    tp = c[:, :k].diagonal()
    gt = c.sum(dim=1)
    fp = c[:, :k].sum(dim=0) - tp
    present = gt > 0
    iou = torch.where(present, tp / (gt + fp).clamp(min=1), torch.full_like(tp, float("nan")))
    return SegmentationScores(miou=float(iou[present].mean()) if bool(present.any()) else float("nan"),
                              accuracy=float(tp.sum() / gt.sum().clamp(min=1)), iou=iou.tolist())


def frame_classes(scene: Scene, frame_index: int, class_names: list[str], downscale: int) -> torch.Tensor:
    """``(H', W')`` ground-truth class per map pixel (block centres of the instance mask); -1 = none."""
    frame = scene.frames[frame_index]
    inst = frame.instance[downscale // 2::downscale, downscale // 2::downscale]
    lut = {o.object_id: (class_names.index(o.label) if o.label in class_names else -1) for o in scene.objects}
    out = np.full(inst.shape, -1, dtype=np.int64)
    for oid in np.unique(inst):
        if int(oid) in lut:
            out[inst == oid] = lut[int(oid)]
    return torch.from_numpy(out)


def cross_view_agreement(matches: PointPixelMatches, pixel_classes: torch.Tensor, num_points: int,
                         num_classes: int) -> float:
    """Fraction of view pairs that give a point the same class, over points seen by >= 2 views.

    Args:
        matches: visible point <-> pixel matches in B views.
        pixel_classes: ``(B, H', W')`` predicted class per pixel (-1 = none, never agrees).
        num_points / num_classes: sizes.
    """
    cls = pixel_classes[matches.frame_indices, matches.pixels[:, 1], matches.pixels[:, 0]]  # (K,)
    counts = torch.zeros(num_points, num_classes + 1, dtype=torch.float64)
    counts.index_put_((matches.point_indices, torch.where(cls >= 0, cls, num_classes)),
                      torch.ones(cls.shape[0], dtype=torch.float64), accumulate=True)
    n = counts.sum(dim=1)
    agree = (counts[:, :num_classes] * (counts[:, :num_classes] - 1) / 2).sum(dim=1)
    pairs = n * (n - 1) / 2
    multi = n >= 2
    return float(agree[multi].sum() / pairs[multi].sum()) if bool(multi.any()) else float("nan")


METHODS = ("fused", "student", "ensemble")
"""The zero-shot segmenters compared by :func:`evaluate_segmentation`."""


def zero_shot_features(scene: Scene, model: DistillStudent | list[DistillStudent], teacher: Teacher, text: torch.Tensor,
                       tolerance: float = 0.05,
                       rule: str = "product", temperature: float = 0.07, turns: int = 1,
                       superpoints: torch.Tensor | None = None, fused_weight: float = FUSED_WEIGHT
                       ) -> dict[str, torch.Tensor]:
    """``(N, D)`` per-point features of the three segmenters of ``METHODS`` on one scene.

    ``fused``: the teacher fused onto the points over all frames (zero where no view sees a point,
    and everywhere when the scene has no frames); ``student``: the distilled model's point
    features (voted over ``turns`` turns about the vertical, :func:`~scene3d.distill.point_features`);
    ``ensemble``: :func:`ensemble_features` of the two with ``rule`` and ``temperature``.

    Args:
        scene: a scene (frames optional).
        model: a :class:`~scene3d.distill.DistillStudent`, or several (their unit features averaged).
        teacher: the 2D teacher the student was distilled from.
        text: ``(K, D)`` unit class-name embeddings.
        tolerance: visibility depth-test tolerance of the fusion, metres.
        rule / temperature / fused_weight: the ensemble rule (``ENSEMBLE_RULES``) and its settings.
        turns: test-time turns of the student (1 = the scene as it is).
        superpoints: ``(N,)`` superpoint index per point: each method's features are then voted
            within superpoints (:func:`superpoint_mean`; the ensemble after combining). None: per point.
    """
    student = point_features(model, scene, turns)
    fused = fuse_teacher(scene, teacher, tolerance).features if scene.frames else torch.zeros_like(student)
    out = {"fused": fused, "student": student,
           "ensemble": ensemble_features(fused, student, text, rule, temperature, fused_weight)}
    if superpoints is None:
        return out
    return {m: superpoint_mean(f, superpoints) for m, f in out.items()}


@dataclass
class SegmentationReport:
    """Zero-shot segmentation of several scenes by each method of ``METHODS`` (fractions in [0, 1])."""

    miou: dict[str, float]
    accuracy: dict[str, float]
    n_points: int
    """Labelled points scored (of a class in ``classes``)."""
    classes: list[str]
    scenes: list[str]

    def to_json(self) -> dict:
        return {"miou": self.miou, "accuracy": self.accuracy, "n_points": self.n_points, "classes": self.classes,
                "scenes": self.scenes}


def evaluate_segmentation(scenes: list[Scene], model: DistillStudent | list[DistillStudent], teacher: Teacher,
                          classes: list[str],
                          tolerance: float = 0.05, rule: str = "product", temperature: float = 0.07,
                          turns: int = 1, superpoints: Callable[[Scene], np.ndarray] | None = None,
                          fused_weight: float = FUSED_WEIGHT) -> SegmentationReport:
    """Score the fused teacher, the student and their ensemble on ``scenes`` (one confusion matrix each;
    the ensemble by :func:`ensemble_features` with ``rule``, ``temperature``, ``fused_weight``; the student voted
    over ``turns`` turns about the vertical; with ``superpoints``, a function giving a scene's ``(N,)``
    superpoint indices such as :func:`scene3d.instances.superpoints`, every method voted within them).

    Raises:
        ValueError: no scenes or no classes.
    """
    if not scenes or not classes:
        raise ValueError(f"evaluate_segmentation: needs scenes and classes (got {len(scenes)} scenes, "
                         f"{len(classes)} classes)")
    text = teacher.embed_text(classes)
    k = len(classes)
    conf = {m: torch.zeros(k, k + 1, dtype=torch.long) for m in METHODS}
    for scene in scenes:
        gt = point_classes(scene, classes)
        groups = None if superpoints is None else torch.from_numpy(np.asarray(superpoints(scene), dtype=np.int64))
        for m, feats in zero_shot_features(scene, model, teacher, text, tolerance, rule, temperature, turns,
                                           groups, fused_weight).items():
            conf[m] += confusion_matrix(predict_classes(feats, text), gt, k)
    scores = {m: segmentation_scores(c) for m, c in conf.items()}
    return SegmentationReport(miou={m: s.miou for m, s in scores.items()},
                              accuracy={m: s.accuracy for m, s in scores.items()},
                              n_points=int(conf["fused"].sum()), classes=list(classes),
                              scenes=[s.scene_id for s in scenes])
