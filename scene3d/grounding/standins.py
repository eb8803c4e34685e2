"""Stand-in instance proposals made from a scene's true objects, with stated noise: for
measuring grounding on predicted objects (the detection protocol) without a detector, and for
testing it. They are not a detector's output: their errors are the ones drawn here.

Per true object, in order: missed (``miss``), merged with its nearest neighbour (among the
objects not drawn yet) into one proposal spanning both boxes (``merge``), split in two halves along its longer horizontal side
(``split``), or kept; every proposal's box is jittered (centre moved by a normal share of
its size, each side scaled by a log-normal factor) and its class is a distribution (``label_scores``)
over the true class and confusable ones: the true class is on top with probability ``1 - label_swap``,
else second; or, ``calibrated``, it is the k-th class with probability the k-th score (the
scores are then the classes' true probabilities, as a calibrated classifier's would be).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene3d.structures import Box, Scene, SceneObject


@dataclass(frozen=True)
class StandInNoise:
    """The noise of :func:`standin_proposals` (probabilities per true object, shares of size).

    Attributes:
        miss: probability that an object gets no proposal.
        merge: probability that it is merged with its nearest object (by box centre).
        split: probability that it is split into two proposals (halves of its box).
        jitter: standard deviation of the box centre's shift (share of the box's size per
            axis) and of the log of each side's scale factor.
        label_swap: probability that the top class is a wrong one (the true class second).
        classes: candidate classes per proposal (``label_scores`` length, >= 1).
        calibrated: the true class's rank is drawn from the scores themselves (``label_swap``
            is then unused): P(true class = the k-th) = the k-th score.
    """

    miss: float = 0.05
    merge: float = 0.05
    split: float = 0.05
    jitter: float = 0.1
    label_swap: float = 0.3
    classes: int = 3
    calibrated: bool = False

    def __post_init__(self) -> None:
        for name in ("miss", "merge", "split", "label_swap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"StandInNoise.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.miss + self.merge + self.split > 1.0:
            raise ValueError("StandInNoise: miss + merge + split must be <= 1")
        if self.jitter < 0 or self.classes < 1:
            raise ValueError("StandInNoise: jitter must be >= 0 and classes >= 1")


def _jittered(box: Box, sigma: float, rng: np.random.Generator) -> Box:
    """An axis-aligned box (yaw 0: ScanRefer's boxes) near ``box``: centre shifted by
    N(0, sigma * size) per axis, sides scaled by exp(N(0, sigma))."""
    size = box.size * np.exp(rng.normal(0.0, sigma, 3))
    return Box(center=box.center + rng.normal(0.0, sigma, 3) * box.size, size=size, yaw=0.0)


def _union(a: Box, b: Box) -> Box:
    lo = np.minimum(a.center - a.size / 2, b.center - b.size / 2)
    hi = np.maximum(a.center + a.size / 2, b.center + b.size / 2)
    return Box.from_min_max(lo, hi)


def _halves(box: Box) -> tuple[Box, Box]:
    axis = 0 if box.size[0] >= box.size[1] else 1
    offset = np.zeros(3)
    offset[axis] = box.size[axis] / 4
    size = box.size.copy()
    size[axis] /= 2
    return Box(center=box.center - offset, size=size, yaw=0.0), Box(center=box.center + offset, size=size, yaw=0.0)


def _label_scores(label: str, others: list[str], noise: StandInNoise,
                  rng: np.random.Generator) -> tuple[tuple[str, float], ...]:
    """(class, score) pairs, highest first, the true class among them (see :class:`StandInNoise`)."""
    wrong = [c for c in dict.fromkeys(others) if c != label]
    picks = [str(c) for c in rng.permutation(np.array(wrong, dtype=object))[: noise.classes - 1]] if wrong else []
    scores = np.sort(rng.dirichlet(np.ones(len(picks) + 1) * 2.0))[::-1]
    if noise.calibrated:
        rank = int(rng.choice(len(scores), p=scores / scores.sum()))
    else:
        rank = int(bool(picks) and rng.random() < noise.label_swap)
    names = [*picks[:rank], label, *picks[rank:]]
    return tuple((name, float(s)) for name, s in zip(names, scores))


def standin_proposals(scene: Scene, noise: StandInNoise = StandInNoise(), seed: int = 0,
                      vocabulary: list[str] | None = None) -> Scene:
    """Predicted objects for ``scene`` made from its true objects (see the module's doc).

    Args:
        scene: a scene with annotated objects (points are not used or kept).
        noise: the errors drawn.
        seed: the random draw (the same seed and scene give the same proposals).
        vocabulary: classes a wrong label is drawn from (default: the scene's own labels,
            the hardest confusions: another class present in the room).

    Returns:
        A scene of the same id holding only predicted objects: ids 0..M-1 in a shuffled order
        (they say nothing about the true ids), axis-aligned boxes, ``score`` in [0.5, 1],
        ``label`` = the top class of ``label_scores``; no colour, front or other annotation.
    """
    rng = np.random.default_rng([seed, *scene.scene_id.encode()])
    objs = scene.objects
    pool = list(vocabulary) if vocabulary else [o.label for o in objs]
    centers = np.array([o.box.center for o in objs]).reshape(-1, 3)
    made: list[tuple[Box, str]] = []
    merged: set[int] = set()
    for i, obj in enumerate(objs):
        if i in merged:
            continue
        u = rng.random()
        if u < noise.miss:
            continue
        box = Box.from_min_max(obj.box.center - obj.box.size / 2, obj.box.center + obj.box.size / 2)
        if u < noise.miss + noise.merge and len(objs) > 1:
            dist = np.linalg.norm(centers - centers[i], axis=1)
            dist[[*range(i + 1), *merged]] = np.inf                          # only objects not drawn yet
            j = int(np.argmin(dist))
            if np.isfinite(dist[j]):
                merged.add(j)
                big = obj if np.prod(obj.box.size) >= np.prod(objs[j].box.size) else objs[j]
                made.append((_union(box, objs[j].box), big.label))
                continue
        if u < noise.miss + noise.merge + noise.split:
            made += [(half, obj.label) for half in _halves(box)]
            continue
        made.append((box, obj.label))
    order = rng.permutation(len(made))
    proposals = []
    for new_id, k in enumerate(order):
        box, label = made[k]
        scores = _label_scores(label, pool, noise, rng)
        proposals.append(SceneObject(object_id=new_id, label=scores[0][0], box=_jittered(box, noise.jitter, rng),
                                     score=float(rng.uniform(0.5, 1.0)), label_scores=scores))
    return Scene(scene_id=scene.scene_id, objects=proposals, meta=scene.meta)


__all__ = ["StandInNoise", "standin_proposals"]
