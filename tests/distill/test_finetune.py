"""Downstream fine-tuning and linear probes (``scene3d.distill.finetune``)."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest
import torch

from scene3d.distill import (
    DistillStudent,
    SegmentationTask,
    finetune,
    keep_labels,
    labelled_rooms,
    linear_probe,
    point_classes,
    predict_points,
)
from scene3d.train import LoopConfig
from tests.distill._helpers import TINY_STUDENT, tiny_scenes


@pytest.fixture(scope="module")
def scenes():
    return tiny_scenes()


def test_keep_labels_keeps_the_share_seeded():
    labels = torch.tensor([-1, 0, 1, 2, -1, 3, 4, 5, 6, 7, 8, -1])  # 9 labelled
    kept = keep_labels(labels, 1 / 3, seed=5)
    on = kept >= 0
    assert int(on.sum()) == 3 and torch.equal(kept[on], labels[on])
    assert torch.equal(keep_labels(labels, 1 / 3, seed=5), kept)
    assert not torch.equal(keep_labels(labels, 1 / 3, seed=6), kept)
    assert int((keep_labels(labels, 0.001, 0) >= 0).sum()) == 1  # never zero labels of a labelled room
    assert torch.equal(keep_labels(labels, 1.0, 0), labels)
    assert int((keep_labels(torch.full((4,), -1), 0.5, 0) >= 0).sum()) == 0
    with pytest.raises(ValueError, match="fraction"):
        keep_labels(labels, 0.0, 0)


def test_labelled_rooms_cut_the_points_not_the_voxels(scenes):
    classes = sorted({o.label for s in scenes for o in s.objects})
    inputs, targets = labelled_rooms(scenes, classes, 0.1, seed=0, voxel_size=0.1)
    full, _ = labelled_rooms(scenes, classes, 1.0, seed=0, voxel_size=0.1)
    for x, y, f, s in zip(inputs, targets, full, scenes):
        n = int((point_classes(s, classes) >= 0).sum())
        assert x.points.shape == (round(0.1 * n), 3) and y.shape == (x.points.shape[0],)
        assert x.voxels.num_points == f.voxels.num_points  # the input is the whole room
    with pytest.raises(ValueError, match="none of the 2 rooms"):
        labelled_rooms(scenes, ["no such class"], 1.0, 0, 0.1)
    with pytest.raises(ValueError, match="one target per input"):
        SegmentationTask(inputs, targets[:1])


def _losses(run) -> list[float]:
    with open(run / "metrics.csv", newline="") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_finetune_starts_from_the_pretrained_backbone_and_learns(tmp_path, scenes):
    classes = sorted({o.label for s in scenes for o in s.objects})
    torch.manual_seed(3)
    student = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    before = {k: v.clone() for k, v in student.backbone.state_dict().items()}
    loop = LoopConfig(steps=12, batch_size=1, lr=0.01, warmup=1, checkpoint_every=12)
    net = finetune(scenes, classes, tmp_path / "pre", 1.0, student, replace(loop, steps=0))
    for k, v in net.backbone.state_dict().items():   # zero steps: the copied backbone as it was
        torch.testing.assert_close(v, before[k])
    net = finetune(scenes, classes, tmp_path / "ft", 1.0, student, loop)
    for k, v in student.backbone.state_dict().items():   # the student itself is left alone
        torch.testing.assert_close(v, before[k])
    changed = [k for k, v in net.backbone.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed
    losses = _losses(tmp_path / "ft")
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3])
    pred = predict_points(net, scenes[0])
    assert pred.shape == (scenes[0].num_points,) and 0 <= int(pred.min()) and int(pred.max()) < len(classes)
    scratch = finetune(scenes, classes, tmp_path / "scratch", 0.5, TINY_STUDENT, replace(loop, steps=1))
    assert not torch.equal(next(scratch.backbone.parameters()), next(student.backbone.parameters()))  # random init


def test_linear_probe_fits_frozen_features(tmp_path, scenes):
    classes = sorted({o.label for s in scenes for o in s.objects})
    torch.manual_seed(0)
    student = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    before = {k: v.clone() for k, v in student.backbone.state_dict().items()}
    probe = linear_probe(student.backbone, scenes, classes, tmp_path / "probe", 1.0, student.config,
                         LoopConfig(steps=40, batch_size=2, lr=0.05, warmup=1, checkpoint_every=40))
    losses = _losses(tmp_path / "probe")
    assert sum(losses[-5:]) < 0.9 * sum(losses[:5])
    assert probe.mean.shape == (TINY_STUDENT.hidden,) and probe.head.out_features == len(classes)
    for k, v in student.backbone.state_dict().items():   # frozen: not a weight nor a BatchNorm statistic moved
        torch.testing.assert_close(v, before[k])
