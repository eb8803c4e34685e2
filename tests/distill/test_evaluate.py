"""Zero-shot metrics, 2D fusion, keypoints and the scene descriptor on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scene3d.distill import (
    Views,
    confusion_matrix,
    cross_view_agreement,
    detect_keypoints,
    ensemble_features,
    fuse_views,
    point_classes,
    predict_classes,
    scene_descriptor,
    segmentation_scores,
)
from scene3d.render import PointPixelMatches
from tests.distill.test_losses import _cameras


def test_confusion_and_miou_by_hand():
    gt = torch.tensor([0, 0, 1, 1, 2, -1])
    pred = torch.tensor([0, 1, 1, -1, 2, 0])
    conf = confusion_matrix(pred, gt, 3)
    assert conf.tolist() == [[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    s = segmentation_scores(conf)
    # class 0: tp 1, fn 1, fp 0 -> 1/2; class 1: tp 1, fn 1 (unpredicted), fp 1 -> 1/3; class 2: 1
    assert math.isclose(s.miou, (1 / 2 + 1 / 3 + 1) / 3)
    assert math.isclose(s.accuracy, 3 / 5)
    absent = segmentation_scores(confusion_matrix(torch.tensor([0]), torch.tensor([0]), 2))
    assert absent.miou == 1.0 and math.isnan(absent.iou[1])


def test_predict_classes_argmax_cosine_and_no_feature():
    text = torch.eye(3)
    feats = torch.tensor([[0.1, 5.0, 0.0], [0.0, 0.0, 0.0], [-1.0, -1.0, 0.2]])
    assert predict_classes(feats, text).tolist() == [1, -1, 2]


def test_point_classes_follow_object_labels(tiny_scene):
    names = ["table", "chair", "zebra"]
    cls = point_classes(tiny_scene, names)
    labels = np.array([tiny_scene.object(int(i)).label for i in tiny_scene.instance_ids])
    np.testing.assert_array_equal(cls.numpy() == 0, labels == "table")
    np.testing.assert_array_equal(cls.numpy() == 1, labels == "chair")
    assert ((cls == -1).numpy() == ~np.isin(labels, names)).all()


def test_cross_view_agreement_by_hand():
    # point 0: views 0, 1, 2 say 1, 1, 2 -> 1 of 3 pairs agree; point 1: views 0, 1 say 0, 0 -> 1 of 1;
    # point 2: one view only (not counted)
    classes = torch.tensor([[[1, 0]], [[1, 0]], [[2, 0]]])  # (B=3, H=1, W=2)
    m = PointPixelMatches(point_indices=torch.tensor([0, 0, 0, 1, 1, 2]),
                          frame_indices=torch.tensor([0, 1, 2, 0, 1, 2]),
                          pixels=torch.tensor([[0, 0], [0, 0], [0, 0], [1, 0], [1, 0], [1, 0]]),
                          depth=torch.ones(6))
    assert math.isclose(cross_view_agreement(m, classes, 3, 3), 2 / 4)


def test_fusion_averages_views_and_leaves_unseen_points_empty():
    cams = _cameras(n=2)
    feats = torch.zeros(2, 8, 8, 2)
    feats[0, ..., 0] = 1.0  # view 0 says e0, view 1 says e1
    feats[1, ..., 1] = 1.0
    views = Views(cams, feats, torch.ones(2, 8, 8, dtype=torch.bool), torch.full((2, 8, 8), 2.0),
                  torch.tensor([True, True]))
    points = torch.tensor([[2.0, 0.05, 0.05], [3.0, 0.05, 0.05], [-2.0, 0.0, 0.0]])  # seen, occluded, behind
    fused = fuse_views(views, points, 0.05)
    assert fused.views_seen.tolist() == [2, 0, 0]
    torch.testing.assert_close(fused.features[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert (fused.features[1:] == 0).all()


def test_keypoints_find_the_odd_cluster_and_respect_nms():
    gen = torch.Generator().manual_seed(0)
    floor = torch.rand(2000, 3, generator=gen) * torch.tensor([4.0, 4.0, 0.0])
    blob = torch.randn(60, 3, generator=gen) * 0.03 + torch.tensor([3.0, 1.0, 0.5])
    points = torch.cat([floor, blob])
    feats = torch.cat([torch.tensor([1.0, 0.0, 0.0]).expand(2000, 3), torch.tensor([0.0, 1.0, 0.0]).expand(60, 3)])
    feats = feats + 0.01 * torch.randn(feats.shape, generator=gen)
    kp = detect_keypoints(points, feats, radius=0.5, max_keypoints=10)
    assert kp.indices[0] >= 2000  # the most salient point is in the blob
    assert (kp.scores[:-1] >= kp.scores[1:]).all()
    d = torch.cdist(kp.positions, kp.positions) + torch.eye(len(kp.indices)) * 10
    assert float(d.min()) > 0.5
    torch.testing.assert_close(kp.descriptors.norm(dim=1), torch.ones(len(kp.indices)))


def test_scene_descriptor_is_unit_and_order_invariant():
    feats = torch.randn(500, 8, generator=torch.Generator().manual_seed(1))
    d = scene_descriptor(feats)
    assert d.shape == (16,)
    torch.testing.assert_close(d.norm(), torch.tensor(1.0))
    torch.testing.assert_close(scene_descriptor(feats[torch.randperm(500)]), d)
    other = scene_descriptor(torch.randn(500, 8, generator=torch.Generator().manual_seed(2)) + 3)
    assert float(d @ d) > float(d @ other)


def test_ensemble_takes_the_more_confident_feature_and_the_student_where_unseen():
    text = torch.eye(3)
    fused = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])  # point 2 seen by no view
    student = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 2.0], [0.6, 0.8, 0.0]])
    ens = ensemble_features(fused, student, text, "cosine")
    unit = torch.nn.functional.normalize
    # point 0: fused max cos 0.994 > student 0.707; point 1: student 1.0 > fused 0.707; point 2: student
    torch.testing.assert_close(ens, torch.stack([unit(fused[0], dim=0), unit(student[1], dim=0), student[2]]))
    assert predict_classes(ens, text).tolist() == [0, 2, 1]


def test_confidence_ensemble_prefers_the_sharper_distribution_not_the_higher_cosine():
    text = torch.eye(3)
    fused = torch.tensor([[0.8, 0.6, 0.0], [0.0, 0.0, 0.0]])  # best cosine 0.8, but a close runner-up
    student = torch.tensor([[0.7, -0.5, -0.5], [0.0, 1.0, 0.0]])  # best cosine 0.70, the others far below
    unit = torch.nn.functional.normalize
    s0 = unit(student[0], dim=0)
    tau = 0.07
    # max softmax probability in closed form: 1 / sum_k exp((c_k - c_max) / tau)
    p_fused = 1 / (1 + math.exp(-0.2 / tau) + math.exp(-0.8 / tau))
    p_student = 1 / (1 + 2 * math.exp(float(s0[1] - s0[0]) / tau))
    assert float(s0[0]) < 0.8 and p_student > p_fused  # the two rules disagree on point 0
    cos = ensemble_features(fused, student, text, "cosine")
    conf = ensemble_features(fused, student, text, "confidence", tau)
    torch.testing.assert_close(cos, torch.stack([unit(fused[0], dim=0), student[1]]))
    torch.testing.assert_close(conf, torch.stack([s0, student[1]]))
    # at a temperature where the fused margin is wide enough, confidence follows the cosine again
    hot = ensemble_features(fused, student, text, "confidence", 10.0)
    p_hot = [torch.softmax(unit(v, dim=0) @ text.T / 10.0, 0).max() for v in (fused[0], student[0])]
    torch.testing.assert_close(hot[0], unit(fused[0], dim=0) if p_hot[0] > p_hot[1] else s0)


def test_product_ensemble_is_the_argmax_of_the_summed_log_probabilities():
    g = torch.Generator().manual_seed(3)
    text = torch.nn.functional.normalize(torch.randn(7, 16, generator=g, dtype=torch.float64), dim=-1)
    fused = torch.randn(400, 16, generator=g, dtype=torch.float64)
    fused[:50] = 0  # unseen points
    student = torch.randn(400, 16, generator=g, dtype=torch.float64)
    unit = torch.nn.functional.normalize
    for w in (1.0, 0.5, 0.0):  # the teacher's distribution raised to w
        ens = ensemble_features(fused, student, text, "product", fused_weight=w)
        for tau in (0.07, 1.0):
            log_p = (w * torch.log_softmax(unit(fused, dim=-1) @ text.T / tau, -1)
                     + torch.log_softmax(unit(student, dim=-1) @ text.T / tau, -1))
            assert torch.equal(predict_classes(ens[50:], text.float()), log_p[50:].argmax(-1))
        torch.testing.assert_close(ens[:50], unit(student[:50], dim=-1).float())
        torch.testing.assert_close(ens.norm(dim=-1), torch.ones(400))
    torch.testing.assert_close(ensemble_features(fused, student, text, "product", fused_weight=0.0),
                               unit(student, dim=-1).float())


def test_ensemble_rejects_unknown_rules_and_temperatures():
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match="rule must be one of"):
        ensemble_features(x, x, torch.eye(3), "vote")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ensemble_features(x, x, torch.eye(3), "confidence", 0.0)
    with pytest.raises(ValueError, match="fused_weight must be >= 0"):
        ensemble_features(x, x, torch.eye(3), "product", fused_weight=-1.0)
