"""The pretrained model shipped inside the package: it loads without a checkpoint, answers on
the real sample scan (which no training run saw), and is the default of the commands."""

import json

import pytest

from scene3d.cli import main
from scene3d.grounding import Grounder
from scene3d.grounding.grounder import PRETRAINED


def test_packaged_model_is_complete_and_small():
    names = {p.name for p in PRETRAINED.iterdir()}
    assert {"config.json", "model.safetensors", "calibration.json", "vocabulary.json", "MODEL_CARD.md"} <= names
    assert sum(p.stat().st_size for p in PRETRAINED.iterdir()) < 20 * 2**20
    assert len(json.loads((PRETRAINED / "vocabulary.json").read_text())) > 400   # ScanNet's class names


@pytest.mark.real_data
def test_packaged_model_grounds_the_real_scan(shared_data, tmp_path, capsys):
    from scene3d.io import import_scannet, save_scene

    scene, _ = import_scannet(shared_data / "scannet" / "scenes" / "scene0000_00")
    grounder = Grounder.from_checkpoint()
    assert grounder.ground(scene, "the bed").best.label == "bed"
    near_door = grounder.ground(scene, "the trash can near the door", top_k=2)
    assert near_door.best.label == "trashcan" and not near_door.low_confidence      # the scan says "trashcan"
    piano = grounder.ground(scene, "the grand piano")
    assert piano.low_confidence and piano.asked_class == "piano"
    folder = save_scene(scene, tmp_path / "scans")
    assert main(["ground", f"scene={folder}", "query=the bed", "out=null"]) == 0    # no checkpoint= needed
    assert "bed" in capsys.readouterr().out.splitlines()[1]
