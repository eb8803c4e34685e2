import math

import numpy as np
import pytest

from scene3d.errors import SceneValidationError
from scene3d.structures import Box, Frame, Mesh, Scene, SceneObject, Utterance, is_view_dependent


def _box():
    return Box(center=np.zeros(3), size=np.ones(3))


def test_valid_scene_queries(tiny_scene):
    assert tiny_scene.num_points == len(tiny_scene.colors)
    assert tiny_scene.objects_by_label()["chair"] == 2
    labels = tiny_scene.point_labels()
    names = tiny_scene.label_set()
    # every point's label is its object's label
    for obj in tiny_scene.objects:
        assert set(labels[tiny_scene.instance_ids == obj.object_id]) == {names.index(obj.label)}
    assert tiny_scene.object(2).label == "chair"
    with pytest.raises(KeyError, match="no object 99"):
        tiny_scene.object(99)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(points=np.zeros((3, 3), np.float64)), "points must have dtype float32"),
        (dict(points=np.zeros((3, 2), np.float32)), r"points must have shape \(N, 3\)"),
        (dict(points=np.array([[0, 0, np.nan]] * 3, np.float32)), "non-finite"),
        (dict(colors=np.zeros((2, 3), np.uint8)), r"colors must have shape \(3, 3\)"),
        (dict(instance_ids=np.array([0, 0, 7], np.int32)), r"instance ids \[7\] have points but no SceneObject"),
        (dict(instance_ids=np.array([0, -2, 0], np.int32)), "must be >= -1"),
        (dict(scene_id="a/b"), "plain folder name"),
        (dict(scene_id=""), "plain folder name"),
    ],
)
def test_scene_rejects_bad_fields(kwargs, match):
    base = dict(
        scene_id="s", points=np.zeros((3, 3), np.float32), colors=np.zeros((3, 3), np.uint8),
        instance_ids=np.array([0, -1, 0], np.int32),
        objects=[SceneObject(object_id=0, label="chair", box=_box())],
    )
    base.update(kwargs)
    with pytest.raises(SceneValidationError, match=match):
        Scene(**base)


def test_duplicate_object_ids_rejected():
    objs = [SceneObject(0, "a", _box()), SceneObject(0, "b", _box())]
    with pytest.raises(SceneValidationError, match=r"duplicate object ids \[0\]"):
        Scene("s", objects=objs)


def test_empty_scene_is_valid():
    scene = Scene("empty")
    assert scene.num_points == 0 and scene.label_set() == [] and scene.point_labels().shape == (0,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(object_id=-1), "object_id must be >= 0"),
        (dict(object_id=True), "object_id must be an int"),
        (dict(label=" "), "label must be a non-empty string"),
        (dict(color_rgb=np.zeros(3, np.float32)), "dtype uint8"),
        (dict(nyu40_id=41), "nyu40_id"),
        (dict(score=-0.1), r"score must be in \[0, 1\]"),
        (dict(score=True), "score must be a float"),
        (dict(label_scores=(("chair", 0.9),)), "label_scores are for predicted objects"),
        (dict(score=0.5, label_scores=(("chair", 0.2), ("sofa", 0.7))), "sorted by score"),
        (dict(score=0.5, label_scores=(("sofa", 0.9),)), "must be the first of label_scores"),
        (dict(score=0.5, label_scores=(("chair", 1.2),)), r"score in \[0, 1\]"),
    ],
)
def test_object_rejects_bad_fields(kwargs, match):
    base = dict(object_id=1, label="chair", box=_box())
    base.update(kwargs)
    with pytest.raises(SceneValidationError, match=match):
        SceneObject(**base)


def test_box_geometry():
    box = Box(center=np.array([1.0, 2.0, 0.5]), size=np.array([2.0, 1.0, 1.0]), yaw=math.pi / 2)
    corners = box.corners()
    # rotated by 90 degrees: local x (2 m) now spans world y
    np.testing.assert_allclose(corners.max(axis=0) - corners.min(axis=0), [1.0, 2.0, 1.0], atol=1e-12)
    inside = box.contains(np.array([[1.0, 2.9, 0.5], [1.9, 2.0, 0.5]]))
    assert inside.tolist() == [True, False]
    with pytest.raises(SceneValidationError, match="size must be >= 0"):
        Box(center=np.zeros(3), size=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(SceneValidationError, match="yaw"):
        Box(center=np.zeros(3), size=np.ones(3), yaw=float("nan"))


def test_frame_validation():
    rgb = np.zeros((4, 5, 3), np.uint8)
    K = np.array([[5.0, 0, 2.5], [0, 5.0, 2.0], [0, 0, 1]])
    frame = Frame("f", rgb, K, np.eye(4))
    assert (frame.height, frame.width) == (4, 5)
    with pytest.raises(SceneValidationError, match=r"depth must have shape \(4, 5\)"):
        Frame("f", rgb, K, np.eye(4), depth=np.zeros((5, 4), np.float32))
    bad_pose = np.eye(4)
    bad_pose[0, 0] = 2.0
    with pytest.raises(SceneValidationError, match="not a proper rotation"):
        Frame("f", rgb, K, bad_pose)
    with pytest.raises(SceneValidationError, match="positive focal"):
        Frame("f", rgb, np.zeros((3, 3)), np.eye(4))
    with pytest.raises(SceneValidationError, match="depth must be >= 0"):
        Frame("f", rgb, K, np.eye(4), depth=-np.ones((4, 5), np.float32))


def test_mesh_validation():
    with pytest.raises(SceneValidationError, match="out of range"):
        Mesh(np.zeros((3, 3), np.float32), np.array([[0, 1, 3]], np.int32))


def test_utterance_validation_and_json():
    u = Utterance("scene0000_00", 3, "the chair left of the desk", anchor_ids=(1,), view_dependent=True)
    assert Utterance.from_json(u.to_json()) == u
    with pytest.raises(SceneValidationError, match="target_id"):
        Utterance("s", -1, "x")
    with pytest.raises(SceneValidationError, match="text"):
        Utterance("s", 1, "  ")
    with pytest.raises(SceneValidationError, match="unknown fields"):
        Utterance.from_json({"scene_id": "s", "target_id": 1, "text": "x", "colour": 1})
    with pytest.raises(SceneValidationError, match="misses"):
        Utterance.from_json({"scene_id": "s", "text": "x"})


@pytest.mark.parametrize(
    "text, expected",
    [("The chair on the left", True), ("the rightmost lamp", True), ("facing the bed", True),
     ("the chair near the table", False), ("the backpack", False), ("a leftover cup", False)],
)
def test_view_dependent_words(text, expected):
    assert is_view_dependent(text) is expected
