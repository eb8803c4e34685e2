import numpy as np
import pytest

from scene3d.grounding import class_random_floor, referit3d_accuracy, scanrefer_accuracy
from scene3d.structures import Box, Scene, SceneObject, Utterance


def _scene():
    box = lambda x: Box(np.array([x, 0.0, 0.5]), np.ones(3))  # noqa: E731
    objs = [SceneObject(0, "chair", box(0)), SceneObject(1, "chair", box(2)), SceneObject(2, "chair", box(4)),
            SceneObject(3, "table", box(6)), SceneObject(4, "lamp", box(8)), SceneObject(5, "lamp", box(10))]
    return {"s": Scene("s", objects=objs)}


def test_referit3d_subsets():
    scenes = _scene()
    utts = [Utterance("s", 0, "the chair on the left"), Utterance("s", 3, "the table"),
            Utterance("s", 4, "the lamp near the table"), Utterance("s", 1, "the middle chair")]
    scores = referit3d_accuracy(utts, [0, 3, 5, 2], scenes)
    assert scores.overall == 0.5 and scores.n == 4
    assert (scores.n_hard, scores.hard) == (2, 0.5)          # chairs: 3 of a class
    assert scores.easy == 0.5                                 # table right, lamp wrong
    assert (scores.n_view_dependent, scores.view_dependent) == (1, 1.0)
    with pytest.raises(ValueError, match="2 predictions"):
        referit3d_accuracy(utts, [0, 1], scenes)
    with pytest.raises(ValueError, match="target 9"):
        referit3d_accuracy([Utterance("s", 9, "x")], [0], scenes)


def test_scanrefer_iou_thresholds():
    scenes = _scene()
    utts = [Utterance("s", 3, "the table"), Utterance("s", 0, "a chair")]
    shifted = Box(np.array([6.5, 0.0, 0.5]), np.ones(3))     # IoU 1/3 with the table
    scores = scanrefer_accuracy(utts, [shifted, scenes["s"].object(0).box], scenes)
    assert (scores.acc25, scores.acc50) == (1.0, 0.5)
    assert (scores.unique25, scores.unique50, scores.multiple50) == (1.0, 0.0, 1.0)


def test_floor_is_the_exact_expectation():
    scenes = _scene()
    utts = [Utterance("s", 0, "the chair"), Utterance("s", 3, "the table"), Utterance("s", 4, "the lamp")]
    refer, scan = class_random_floor(utts, scenes)
    assert refer.overall == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)
    assert scan.acc25 == pytest.approx(refer.overall)        # same-class boxes do not overlap here
    # a Monte-Carlo chooser agrees with the expectation
    rng = np.random.default_rng(0)
    ids = {0: [0, 1, 2], 3: [3], 4: [4, 5]}
    hits = [np.mean([rng.choice(ids[u.target_id]) == u.target_id for _ in range(4000)]) for u in utts]
    assert np.mean(hits) == pytest.approx(refer.overall, abs=0.02)
