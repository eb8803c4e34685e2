"""``scene3d segment-instances`` and ``import-ply segment=true``: help, errors, writing predicted
objects, labels from a pretrain run, and ``graph`` / ``ground`` on the result."""

import json

import numpy as np
import pytest
import trimesh

from scene3d.cli import main
from scene3d.io import load_scene, save_scene
from tests.distill._helpers import tiny_pretrain_run
from tests.instances.test_propose import _boxes_on_floor


def test_help_and_bad_input(tmp_path, capsys):
    assert main(["segment-instances", "--help"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint" in out and "proposals.segments.threshold" in out
    folder = save_scene(_boxes_on_floor(), tmp_path / "data")
    for args, message in [([f"scene={tmp_path / 'none'}"], "scene folder not found"),
                          ([f"scene={folder}", "classes=[chair]"], "classes need checkpoint"),
                          ([f"scene={folder}", f"checkpoint={tmp_path}", "classes=chair"], "give a list"),
                          ([f"scene={folder}", f"checkpoint={tmp_path}"], "no checkpoint"),
                          ([f"scene={folder}", "proposals.label_source=guess"], "label_source"),
                          ([f"scene={folder}", "proposals.planes.tolerance=0"], "proposals.planes"),
                          ([f"scene={folder}", "proposals.segments.thresh=1"], "did you mean")]:
        assert main(["segment-instances", *args, f"out={tmp_path / 'bad'}"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # ground loads the packaged model
def test_in_place_then_graph_and_ground(tmp_path, capsys):
    folder = save_scene(_boxes_on_floor(), tmp_path / "data")
    assert main(["segment-instances", f"scene={folder}"]) == 0
    assert "4 proposals" in capsys.readouterr().out
    scene = load_scene(folder)
    assert len(scene.objects) == 4 and all(o.predicted for o in scene.objects)
    stored = json.loads((folder / "scene.json").read_text())["objects"]
    assert all(o["score"] is not None for o in stored)
    assert main(["graph", f"data={tmp_path / 'data'}"]) == 0
    assert (folder / "graph.json").is_file()
    assert main(["ground", f"scene={folder}", "query=the object on the floor", "top_k=2"]) == 0
    out = capsys.readouterr().out
    assert "1. object" in out
    assert main(["ground", f"scene={folder}", "query=the box", "label_temperature=-1"]) == 2
    assert "label_temperature must be >= 0" in capsys.readouterr().err


def test_import_ply_segment(tmp_path, capsys):
    truth = _boxes_on_floor()
    cloud = trimesh.PointCloud(truth.points, colors=np.concatenate([truth.colors, np.full((truth.num_points, 1), 255,
                                                                                          np.uint8)], axis=1))
    cloud.export(tmp_path / "scan.ply")
    assert main(["import-ply", f"path={tmp_path / 'scan.ply'}", f"out={tmp_path / 'root'}", "segment=true"]) == 0
    scene = load_scene(tmp_path / "root" / "scan")
    assert sorted(o.label for o in scene.objects) == ["floor", "object", "object", "object"]
    assert (scene.instance_ids >= 0).mean() > 0.99


def test_labels_from_a_pretrain_run(tmp_path, capsys):
    run, folder = tiny_pretrain_run(tmp_path)
    classes = json.loads((run / "config.json").read_text())["classes"]
    assert main(["segment-instances", f"scene={folder}", f"checkpoint={run}", f"out={tmp_path / 'pred'}",
                 "proposals.top_k=2", "proposals.planes.min_fraction=0.05"]) == 0
    scene = load_scene(tmp_path / "pred" / "tiny_0")
    objects = [o for o in scene.objects if o.label not in ("floor", "wall", "ceiling")]
    assert objects
    for obj in objects:
        assert obj.label in classes and len(obj.label_scores) == 2 and obj.label_scores[0][0] == obj.label
        assert sum(s for _, s in obj.label_scores) <= 1 + 1e-6
    assert main(["segment-instances", f"scene={folder}", f"checkpoint={run}", f"out={tmp_path / 'two'}",
                 "classes=[chair,lamp]"]) == 0
    assert {o.label for o in load_scene(tmp_path / "two" / "tiny_0").objects} <= {"chair", "lamp", "floor", "wall",
                                                                                  "ceiling"}
    assert main(["segment-instances", f"scene={folder}", f"checkpoint={run}", "proposals.label_source=both",
                 f"out={tmp_path / 'both'}"]) == 0
    assert load_scene(tmp_path / "both" / "tiny_0").objects
    # a Labeler loaded once labels like the run's path (many scenes: no reload per scene)
    from scene3d.errors import ConfigError
    from scene3d.instances import Labeler, propose, strip_labels

    bare = strip_labels(load_scene(folder))
    labeler = Labeler.load(run)
    assert labeler.names == classes
    assert propose(bare, checkpoint=labeler).objects == propose(bare, checkpoint=run).objects
    with pytest.raises(ConfigError, match="a Labeler has its classes"):
        propose(bare, checkpoint=labeler, classes=["chair"])


@pytest.mark.slow  # eval-grounding loads the packaged model
def test_eval_grounding_proposes_on_the_fly(tmp_path, capsys):
    """``eval-grounding proposals=true``: the scenes of objects= lose their labels, get proposals from
    their points, and the detection protocol scores them against the true boxes."""
    from scene3d.io import write_utterances_jsonl
    from scene3d.structures import Utterance

    truth = _boxes_on_floor()
    save_scene(truth, tmp_path / "truth")
    utts = [Utterance(scene_id=truth.scene_id, target_id=o.object_id, text=f"the {o.label}", utterance_id=f"u{o.object_id}",
                      source="scanrefer") for o in truth.objects if o.label != "floor"]
    write_utterances_jsonl(tmp_path / "language.jsonl", utts)
    metrics = tmp_path / "m.json"
    args = ["eval-grounding", f"utterances={tmp_path / 'language.jsonl'}", "device=cpu"]
    assert main([*args, f"objects={tmp_path / 'truth'}", "proposals=true", f"out={metrics}"]) == 0
    assert "predicted objects of proposals made from the points" in capsys.readouterr().out
    record = json.loads(metrics.read_text())["detection"]
    assert record["proposals"]["n"] == 3
    assert record["upper_bound"]["acc50"] == 1.0            # separated boxes: every target is proposed exactly
    objects_gz = tmp_path / "objects.json"
    objects_gz.write_text("[]")
    assert main([*args, f"objects={objects_gz}", "proposals=true"]) == 2
    assert "must be a folder of scene folders" in capsys.readouterr().err
    assert main([*args, f"objects={tmp_path / 'truth'}", f"proposals={tmp_path / 'truth'}",
                 f"proposal_checkpoint={tmp_path}"]) == 2
    assert "needs proposals=true" in capsys.readouterr().err
