import glob
import json

import pytest

from scene3d.errors import SceneFormatError
from scene3d.io import (
    check_targets,
    load_gt_object_scenes,
    read_referit3d_csv,
    read_scanrefer_json,
    read_utterances_jsonl,
    write_utterances_jsonl,
)
from scene3d.io.scannet_labels import LabelMap
from scene3d.structures import Box, Scene, SceneObject

SR3D = (
    "scan_id,target_id,distractor_ids,utterance,stimulus_id,coarse_reference_type,reference_type,"
    "instance_type,anchors_types,anchor_ids,tokens,dataset\n"
    'scene0017_01,25,[26],select the file cabinet with books on top,scene0017_01-file_cabinet-2-25-26,'
    "support,supporting,file cabinet,['books'],[14],[],sr3d\n"
    'scene0017_01,7,"[8, 9]",the chair left of the desk,scene0017_01-chair-3-7-8-9,allocentric,left,chair,[],[3],[],sr3d\n'
    "scene0017_01,,[],no target here,x,,,chair,[],[],[],sr3d\n"
    "scene0017_01,4,[oops,the lamp,x,,,lamp,[],[],[],sr3d\n"
)


def test_sr3d_rows_and_problems(tmp_path):
    path = tmp_path / "sr3d.csv"
    path.write_text(SR3D)
    report = read_referit3d_csv(path)
    assert len(report.utterances) == 2
    first, second = report.utterances
    assert (first.target_id, first.anchor_ids, first.distractor_ids, first.relation) == (25, (14,), (26,), "supporting")
    assert first.hard is False and first.view_dependent is False and first.source == "sr3d"
    assert second.hard is True and second.view_dependent is True and second.distractor_ids == (8, 9)
    assert [(p.row, "target_id" in p.reason) for p in report.problems] == [(3, True), (4, False)]


def test_scanrefer_rows_and_problems(tmp_path):
    path = tmp_path / "sr.json"
    path.write_text(json.dumps([
        {"scene_id": "scene0280_00", "object_id": "14", "object_name": "office_chair", "ann_id": "4",
         "description": "the ball on the left of the bed."},
        {"scene_id": "scene0280_00", "object_id": "", "description": "missing id"},
        "not an object",
    ]))
    report = read_scanrefer_json(path)
    assert len(report.utterances) == 1 and report.utterances[0].target_label == "office chair"
    assert report.utterances[0].view_dependent and report.utterances[0].hard is None
    assert [p.row for p in report.problems] == [2, 3]
    path.write_text("{not json")
    with pytest.raises(SceneFormatError, match="sr.json: malformed JSON"):
        read_scanrefer_json(path)
    path.write_text('{"a": 1}')
    with pytest.raises(SceneFormatError, match="must be a list"):
        read_scanrefer_json(path)


def test_csv_without_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SceneFormatError, match=r"missing columns \['scan_id', 'target_id', 'utterance'\]"):
        read_referit3d_csv(path)


def test_check_targets_reports_missing():
    box = Box.from_min_max([0, 0, 0], [1, 1, 1])
    scenes = {"s": Scene("s", objects=[SceneObject(1, "chair", box), SceneObject(2, "desk", box)])}
    from scene3d.structures import Utterance

    utts = [Utterance("s", 1, "a"), Utterance("s", 9, "b"), Utterance("t", 1, "c"), Utterance("s", 2, "d", anchor_ids=(7,))]
    bad = check_targets(utts, scenes)
    assert [(u.text, reason.split()[0]) for u, reason in bad] == [("b", "target"), ("c", "scene"), ("d", "an")]


def test_jsonl_round_trip(tmp_path):
    from scene3d.structures import Utterance

    utts = [Utterance("s", 1, "the chair", anchor_ids=(2, 3), relation="between", hard=True, source="generated")]
    write_utterances_jsonl(tmp_path / "l.jsonl", utts)
    assert read_utterances_jsonl(tmp_path / "l.jsonl") == utts
    (tmp_path / "l.jsonl").write_text('{"scene_id": "s"}\n')
    with pytest.raises(SceneFormatError, match="l.jsonl: line 1"):
        read_utterances_jsonl(tmp_path / "l.jsonl")


@pytest.mark.real_data
def test_real_language_files_load_completely(shared_data):
    lang = shared_data / "language"
    counts = {}
    utterances = []
    for path in sorted(glob.glob(str(lang / "*.csv"))):
        report = read_referit3d_csv(path)
        with open(path, encoding="utf-8") as f:
            import csv

            rows = sum(1 for _ in csv.DictReader(f))
        assert len(report.utterances) + len(report.problems) == rows
        counts[path.rsplit("/", 1)[1]] = len(report.utterances)
        utterances += report.utterances
    scanrefer = read_scanrefer_json(lang / "ScanRefer_filtered_train_sampled1000.json")
    assert len(scanrefer.utterances) == 1000 and not scanrefer.problems
    assert counts["nr3d_train_sampled1000.csv"] == 1000
    utterances += scanrefer.utterances
    lmap = LabelMap.read(shared_data / "scannet" / "meta" / "scannetv2-labels.combined.tsv")
    scenes = load_gt_object_scenes(shared_data / "scannet" / "meta" / "objects_train_scenes.json.gz", lmap)
    assert len(scenes) == 1201
    assert all(s.num_points == 0 and s.objects for s in scenes.values())
    bad = check_targets(utterances, scenes)
    assert len(bad) <= len(utterances) // 100  # reported, not raised; the shared files have none
    # targets' labels agree with the object lists for Nr3D (human) rows
    nr3d = [u for u in utterances if u.source == "nr3d"]
    agree = sum(scenes[u.scene_id].object(u.target_id).raw_label.replace("_", " ") == u.target_label for u in nr3d)
    assert agree / len(nr3d) > 0.95


def test_gt_object_list_errors(tmp_path):
    import gzip

    path = tmp_path / "objs.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump({"scenes": {"s": [{"id": 1, "label": "chair", "center_position": [0, 0, 0], "size": [1, 1]}]}}, f)
    with pytest.raises(SceneFormatError, match=r"scenes.s\[0\].size must have shape"):
        load_gt_object_scenes(path)
    path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(SceneFormatError, match="objs.json.gz: cannot read"):
        load_gt_object_scenes(path)
