import json
import shutil

import numpy as np
import plyfile
import pytest

from scene3d.errors import SceneFormatError, SceneValidationError
from scene3d.io import load_scene, save_scene
from scene3d.io.images import depth_from_mm, depth_to_mm
from scene3d.structures import Mesh, Scene
from tests.conftest import make_frame


@pytest.fixture
def full_scene(tiny_scene):
    """The tiny scene plus two frames and a mesh: every optional part present."""
    tiny_scene.frames = [make_frame("f0", seed=1), make_frame("f1", seed=2)]
    tiny_scene.mesh = Mesh(
        vertices=tiny_scene.points[:4].copy(), faces=np.array([[0, 1, 2], [1, 2, 3]], np.int32),
        vertex_colors=tiny_scene.colors[:4].copy(),
    )
    tiny_scene.meta.axis_align = np.eye(4)
    tiny_scene.objects[0].color_name = "brown"
    tiny_scene.objects[1].material = "wood"
    return tiny_scene


def test_round_trip_is_exact(full_scene, tmp_path):
    folder = save_scene(full_scene, tmp_path)
    assert folder == tmp_path / full_scene.scene_id
    back = load_scene(folder)
    assert back == full_scene
    # the comparison is not vacuous: a one-ulp change is detected
    back.points[0, 0] = np.nextafter(back.points[0, 0], np.float32(np.inf))
    assert back != full_scene


def test_round_trip_object_only_and_empty(tmp_path):
    from scene3d.structures import Box, SceneObject

    scene = Scene("objs", objects=[SceneObject(3, "lamp", Box(np.array([0.1, 0.2, 0.3]), np.ones(3), 0.25))])
    assert load_scene(save_scene(scene, tmp_path)) == scene
    empty = Scene("empty")
    assert load_scene(save_scene(empty, tmp_path)) == empty


def test_round_trip_predicted_objects(tmp_path):
    from scene3d.structures import Box, SceneObject

    box = Box(np.array([0.1, 0.2, 0.3]), np.ones(3), 0.0)
    predicted = SceneObject(4, "lamp", box, score=0.75, label_scores=(("lamp", 0.6), ("vase", 0.25)))
    scene = Scene("pred", objects=[predicted, SceneObject(5, "table", box)])
    back = load_scene(save_scene(scene, tmp_path))
    assert back == scene
    assert back.objects[0].predicted and back.objects[0].label_scores == (("lamp", 0.6), ("vase", 0.25))
    assert not back.objects[1].predicted and back.objects[1].score is None
    # not vacuous: a changed score is seen
    back.objects[0].score = 0.5
    assert back != scene


def test_save_replaces_old_folder_atomically(full_scene, tmp_path):
    folder = save_scene(full_scene, tmp_path)
    (folder / "stale.txt").write_text("old")
    save_scene(full_scene, tmp_path)
    assert not (folder / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == [full_scene.scene_id]  # no temp folders left


def test_interrupted_save_keeps_old_scene(full_scene, tmp_path, monkeypatch):
    save_scene(full_scene, tmp_path)
    import scene3d.io.scene_folder as sf

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf, "_write_frames", boom)
    with pytest.raises(KeyboardInterrupt):
        save_scene(full_scene, tmp_path)
    assert load_scene(tmp_path / full_scene.scene_id) == full_scene
    assert [p.name for p in tmp_path.iterdir()] == [full_scene.scene_id]


def test_depth_mm_conversion():
    mm = np.array([[0, 1, 65535]], np.uint16)
    assert np.array_equal(depth_to_mm(depth_from_mm(mm)), mm)
    with pytest.raises(ValueError, match="65.535"):
        depth_to_mm(np.array([[70.0]], np.float32))


def test_unstorable_frame_is_a_clear_error(full_scene, tmp_path):
    full_scene.frames[0].depth[0, 0] = 100.0
    with pytest.raises(SceneValidationError, match="frame f0"):
        save_scene(full_scene, tmp_path)


# ------------------------------------------------------------------ malformed input
def _saved(scene, tmp_path):
    return save_scene(scene, tmp_path)


def _rewrite_points(folder, mutate):
    ply = plyfile.PlyData.read(str(folder / "points.ply"), mmap=False)
    data = ply["vertex"].data.copy()
    data = mutate(data)
    plyfile.PlyData([plyfile.PlyElement.describe(data, "vertex")], text=False).write(str(folder / "points.ply"))


def _edit_json(folder, mutate, name="scene.json"):
    path = folder / name
    obj = json.loads(path.read_text())
    mutate(obj)
    path.write_text(json.dumps(obj))


def _set_nan(d):
    d["x"][3] = np.nan
    return d


def _float64_x(d):
    new = np.empty(len(d), dtype=[(n, "<f8" if n == "x" else d.dtype[n].str) for n in d.dtype.names])
    for n in d.dtype.names:
        new[n] = d[n]
    return new


def _drop_label(d):
    from numpy.lib import recfunctions

    return recfunctions.repack_fields(d[[n for n in d.dtype.names if n != "label"]])


def _unknown_label(d):
    d["label"][0] = 99
    return d


def _orphan_instance(d):
    d["instance"][0] = 42
    return d


def _wrong_label(d):
    d["label"][d["instance"] == 0] = 1
    return d


@pytest.mark.parametrize(
    "mutate, match",
    [
        (_set_nan, "NaN/inf coordinates"),
        (_float64_x, "property 'x' has dtype float64"),
        (_drop_label, r"misses properties \['label'\]"),
        (_unknown_label, "unknown label"),
        (_orphan_instance, r"instance ids \[42\] match no object"),
        (_wrong_label, "disagrees with their object's label"),
    ],
)
def test_bad_points_ply(tiny_scene, tmp_path, mutate, match):
    folder = _saved(tiny_scene, tmp_path)
    _rewrite_points(folder, mutate)
    with pytest.raises(SceneFormatError, match=match) as info:
        load_scene(folder)
    assert info.value.path == folder / "points.ply"


def test_truncated_ply(tiny_scene, tmp_path):
    folder = _saved(tiny_scene, tmp_path)
    raw = (folder / "points.ply").read_bytes()
    (folder / "points.ply").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(SceneFormatError, match="points.ply: PLY is truncated"):
        load_scene(folder)
    (folder / "points.ply").write_bytes(raw[:40])
    with pytest.raises(SceneFormatError, match="points.ply: PLY header has no 'end_header'"):
        load_scene(folder)


def test_missing_files(tiny_scene, tmp_path):
    folder = _saved(tiny_scene, tmp_path)
    with pytest.raises(SceneFormatError, match="scene folder not found"):
        load_scene(tmp_path / "nope")
    (folder / "points.ply").unlink()
    with pytest.raises(SceneFormatError, match="points.ply: file not found"):
        load_scene(folder)
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(SceneFormatError, match="scene.json: file not found"):
        load_scene(folder)


def _del_key(key):
    return lambda o: o.pop(key)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (_del_key("objects"), "scene.objects is missing"),
        (_del_key("num_points"), "scene.num_points is missing"),
        (lambda o: o.update(format="other"), "is this a scene3d scene folder"),
        (lambda o: o.update(version=99), "reads version 1"),
        (lambda o: o["objects"][0].update(label="sofa"), r"labels \['sofa'\] that are not in label_set"),
        (lambda o: o["objects"][0]["box"].update(center=[0, "a", 0]), r"objects\[0\].box.center must be a numeric"),
        (lambda o: o["objects"][0]["box"].update(size=[1, 1]), r"objects\[0\].box.size must have shape \(3,\)"),
        (lambda o: o["objects"][1].update(object_id="1"), r"objects\[1\].object_id must be an integer"),
        (lambda o: o["objects"][1].update(color_rgb=[300, 0, 0]), "color_rgb must hold integers"),
        (lambda o: o.update(num_points=5), "scene.json says 5"),
        (lambda o: o.update(label_set=["a", "a"]), "distinct strings"),
        (lambda o: o["objects"][2].update(object_id=1), r"duplicate object ids \[1\]"),
        (lambda o: o["objects"][0].update(score="high"), r"objects\[0\].score must be a finite number"),
        (lambda o: o["objects"][0].update(score=1.5), r"score must be in \[0, 1\]"),
        (lambda o: o["objects"][0].update(score=0.5, label_scores=[["x", 0.5, 1]]), r"label_scores must be a list of"),
        (lambda o: o["objects"][0].update(label_scores=[["chair", 0.5]]), "label_scores are for predicted objects"),
    ],
)
def test_bad_scene_json(tiny_scene, tmp_path, mutate, match):
    folder = _saved(tiny_scene, tmp_path)
    _edit_json(folder, mutate)
    with pytest.raises(SceneFormatError, match=match):
        load_scene(folder)


def test_nan_in_json_is_rejected(tiny_scene, tmp_path):
    folder = _saved(tiny_scene, tmp_path)
    text = (folder / "scene.json").read_text()
    obj = json.loads(text)
    obj["objects"][0]["box"]["center"][0] = float("nan")
    (folder / "scene.json").write_text(json.dumps(obj))  # json writes NaN
    with pytest.raises(SceneFormatError, match="contains NaN or infinity"):
        load_scene(folder)


def test_malformed_json_names_file_and_line(tiny_scene, tmp_path):
    folder = _saved(tiny_scene, tmp_path)
    (folder / "scene.json").write_text('{"format": "scene3d.scene",\n "version": 1,,}')
    with pytest.raises(SceneFormatError, match=r"scene.json: malformed JSON at line 2"):
        load_scene(folder)


def test_bad_frames(tiny_scene, tmp_path):
    tiny_scene.frames = [make_frame("f0")]
    folder = _saved(tiny_scene, tmp_path)
    (folder / "frames" / "depth" / "f0.png").write_bytes(b"not a png")
    with pytest.raises(SceneFormatError, match="f0.png: cannot decode image"):
        load_scene(folder)
    assert load_scene(folder, frames=False).frames == []
    folder = _saved(tiny_scene, tmp_path)
    _edit_json(folder, lambda o: o["frames"][0].update(K=[[1, 0, 0], [0, 1, 0], [0, 0, 0]]), "frames/frames.json")
    with pytest.raises(SceneFormatError, match="frames.json: frames\\[0\\]: .*last row"):
        load_scene(folder)
    folder = _saved(tiny_scene, tmp_path)
    (folder / "frames" / "instance" / "f0.png").unlink()
    with pytest.raises(SceneFormatError, match="f0.png: image file not found"):
        load_scene(folder)
