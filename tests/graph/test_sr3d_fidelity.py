"""Our graph, built from ground-truth boxes, holds Sr3D's references (a subset of scenes for speed;
benchmarks/bm_sr3d_fidelity.py runs them all)."""

import glob

import pytest

from scene3d.graph.fidelity import sr3d_recall
from scene3d.io import load_gt_object_scenes, read_referit3d_csv


@pytest.mark.real_data
def test_sr3d_recall_on_real_scenes(shared_data):
    utts = []
    for path in sorted(glob.glob(str(shared_data / "language" / "sr3d_train_*.csv"))):
        utts += read_referit3d_csv(path).utterances
    scene_ids = sorted({u.scene_id for u in utts})[:120]
    scenes = load_gt_object_scenes(shared_data / "scannet" / "meta" / "objects_train_scenes.json.gz",
                                   scene_ids=set(scene_ids))
    result = sr3d_recall([u for u in utts if u.scene_id in scenes], scenes)
    assert result["support"]["total"] > 50 and result["support"]["recall"] >= 0.95
    assert result["vertical"]["total"] > 100 and result["vertical"]["recall"] >= 0.95
    assert result["between"]["total"] > 200 and result["between"]["recall"] >= 0.95
    assert result["allocentric"]["total"] > 100 and result["allocentric"]["recall"] >= 0.95
