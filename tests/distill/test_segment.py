"""Open-vocabulary segmentation of one scene (``scene3d.distill.segment``) and ``scene3d segment``."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from scene3d.cli import main
from scene3d.distill import point_classes
from scene3d.distill.segment import feature_pca_rgb, query_relevancy, segment_points
from scene3d.io import load_scene
from tests.distill._helpers import fake_teacher, tiny_pretrain_run, tiny_scenes


def test_labels_scores_and_ground_truth_match_of_exact_class_features():
    scene = tiny_scenes(1)[0]
    teacher = fake_teacher()
    classes = scene.label_set()
    text = teacher.embed_text(classes)
    gt = point_classes(scene, classes)
    feats = torch.where((gt >= 0)[:, None], 3.0 * text[gt.clamp(min=0)], torch.zeros(1, text.shape[1]))
    seg = segment_points(feats, classes, text)
    labelled = gt >= 0
    assert torch.equal(seg.labels[labelled], gt[labelled])
    torch.testing.assert_close(seg.scores[labelled].max(dim=-1).values, torch.ones(int(labelled.sum())))
    assert seg.relevancy is None and seg.pca_rgb.shape == (scene.num_points, 3) and seg.pca_rgb.dtype == np.uint8
    match, n = seg.ground_truth_match(scene)
    assert match == 1.0 and n == int(labelled.sum())
    # a reversed class list still names the right classes: the match is by name
    flipped = segment_points(feats, classes[::-1], text.flip(0))
    assert flipped.ground_truth_match(scene)[0] == 1.0
    bare = replace(scene, objects=[], instance_ids=np.full(scene.num_points, -1, dtype=np.int32))
    assert seg.ground_truth_match(bare) is None
    with pytest.raises(ValueError, match="text embedding"):
        segment_points(feats, classes[:-1], text)


def test_query_relevancy_is_the_softmax_against_the_other_classes():
    text = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    feats = torch.cat([5 * text[1:2], 2 * text[2:3]])  # a point of class 1, a point of class 2
    seg = segment_points(feats, ["a", "b", "c", "d"], text, query="b", query_text=text[1], temperature=0.1)
    expected = torch.softmax(torch.nn.functional.normalize(feats, dim=-1) @ text[[1, 0, 2, 3]].T / 0.1, dim=-1)[:, 0]
    torch.testing.assert_close(seg.relevancy, expected)
    assert seg.relevancy[0] > 0.5 > seg.relevancy[1]
    torch.testing.assert_close(query_relevancy(feats, text[1], text[:0]), torch.ones(2))
    with pytest.raises(ValueError, match="temperature"):
        query_relevancy(feats, text[1], text, temperature=0)
    with pytest.raises(ValueError, match="query_text"):
        segment_points(feats, ["a", "b", "c", "d"], text, query="b")


def test_feature_pca_spans_the_main_axes():
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(300, 5, generator=gen) * torch.tensor([10.0, 5.0, 2.0, 0.01, 0.01])
    rgb = feature_pca_rgb(base)
    # each channel follows its component's axis (sign fixed: the largest loading is positive)
    for c in range(3):
        assert np.corrcoef(rgb[:, c].astype(float), base[:, c].numpy())[0, 1] > 0.95
    assert rgb.min() == 0 and rgb.max() == 255
    assert (feature_pca_rgb(torch.ones(10, 4)) == 0).all()  # no spread: nothing to show


def test_segment_command(tmp_path, capsys):
    run, scene = tiny_pretrain_run(tmp_path)
    recorded = json.loads((run / "config.json").read_text())["classes"]
    assert recorded == tiny_scenes(1)[0].label_set()
    capsys.readouterr()
    assert main(["segment", f"scene={scene}", f"checkpoint={run}", f"out={tmp_path / 'seg'}", "query=chair"]) == 0
    printed = capsys.readouterr().out
    assert "the label matches the ground truth on" in printed and "the run's training classes" in printed
    npz = np.load(tmp_path / "seg" / "segment.npz")
    summary = json.loads((tmp_path / "seg" / "segment.json").read_text())
    n = summary["num_points"]
    assert summary["classes"] == recorded and summary["query"] == "chair"
    assert npz["labels"].shape == (n,) and 0 <= npz["labels"].min() and npz["labels"].max() < len(recorded)
    assert npz["scores"].shape == (n, len(recorded)) and npz["pca_rgb"].shape == (n, 3)
    assert npz["relevancy"].shape == (n,) and 0 <= npz["relevancy"].min() and npz["relevancy"].max() <= 1
    assert sum(summary["points_per_class"].values()) == n
    assert 0 <= summary["ground_truth_match"]["fraction"] <= 1
    assert oct((tmp_path / "seg" / "segment.npz").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert main(["segment", f"scene={scene}", f"checkpoint={run}", f"out={tmp_path / 'two'}",
                 "classes=[chair,table]"]) == 0
    two = json.loads((tmp_path / "two" / "segment.json").read_text())
    assert two["classes"] == ["chair", "table"] and two["superpoints"] is True and two["turns"] == 8
    assert "relevancy" not in np.load(tmp_path / "two" / "segment.npz")
    # superpoint voting: points of one superpoint share their label; without it (and 1 turn) per point
    from scene3d.instances import superpoints

    groups = superpoints(load_scene(scene, frames=False, mesh=False))
    labels = np.load(tmp_path / "two" / "segment.npz")["labels"]
    assert all(len(np.unique(labels[groups == g])) == 1 for g in np.unique(groups))
    assert main(["segment", f"scene={scene}", f"checkpoint={run}", f"out={tmp_path / 'raw'}",
                 "classes=[chair,table]", "superpoints=false", "turns=1"]) == 0
    raw = json.loads((tmp_path / "raw" / "segment.json").read_text())
    assert raw["superpoints"] is False and raw["turns"] == 1
    for args, message in [([f"scene={tmp_path / 'none'}", f"checkpoint={run}"], "scene folder not found"),
                          ([f"scene={scene}", f"checkpoint={tmp_path}"], "no checkpoint"),
                          ([f"scene={scene}", f"checkpoint={run}", "classes=[chair,chair]"], "distinct"),
                          ([f"scene={scene}", f"checkpoint={run}", "classes=[]"], "distinct"),
                          ([f"scene={scene}", f"checkpoint={run}", "classes=chair"], "give a list"),
                          ([f"scene={scene}", f"checkpoint={run}", "query=''"], "query is empty"),
                          ([f"scene={scene}", f"checkpoint={run}", "superpoints=maybe"], "expected true or false"),
                          ([f"scene={scene}", f"checkpoint={run}", "turns=0"], "turns must be an integer >= 1")]:
        assert main(["segment", *args, f"out={tmp_path / 'bad'}"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


def _umask() -> int:
    from scene3d.io.atomic import current_umask

    return current_umask()
