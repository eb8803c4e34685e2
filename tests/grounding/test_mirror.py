"""Mirror augmentation: the reflected scene and its swapped sentence (training with it:
test_augmentation.py)."""

import math

import numpy as np
import pytest

from scene3d.graph import build_scene_graph
from scene3d.graph.relations import Viewpoint
from scene3d.grounding.data import reference_frame, scene_geometry
from scene3d.grounding.mirror import mirror_scene, mirror_text, mirror_viewpoint
from scene3d.structures import Box, Scene, SceneObject
from scene3d.synth import SynthConfig, generate_scene


def test_mirror_text_swaps_left_and_right_only():
    text = "Facing the bed, pick the Left nightstand, on the right-hand side; the rightmost. Bright lights, alright"
    assert mirror_text(text) == ("Facing the bed, pick the Right nightstand, on the left-hand side; the leftmost. "
                                 "Bright lights, alright")
    assert mirror_text(mirror_text(text)) == text
    assert mirror_text("the chair next to the table") == "the chair next to the table"
    # "right" as an intensifier names no side; as a noun before the same words it does
    assert mirror_text("It is right next to the bed. Right behind it") == "It is right next to the bed. Right behind it"
    assert mirror_text("on the right next to the door") == "on the left next to the door"


def test_mirror_scene_reflects_boxes_fronts_and_points():
    obj = SceneObject(object_id=3, label="chair", box=Box(np.array([1.0, 2.0, 0.4]), np.array([0.5, 0.6, 0.8]),
                                                            yaw=0.0), has_front=True,
                      obb=Box(np.array([1.0, 2.0, 0.4]), np.array([0.5, 0.6, 0.8]), yaw=math.pi / 3))
    scene = Scene("s", points=np.array([[1.0, 2.0, 0.4], [-0.5, 0.0, 1.0]], np.float32),
                  colors=np.zeros((2, 3), np.uint8), instance_ids=np.array([3, -1], np.int32), objects=[obj],
                  normals=np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], np.float32))
    m = mirror_scene(scene)
    got = m.objects[0]
    np.testing.assert_allclose(got.box.center, [-1.0, 2.0, 0.4])
    np.testing.assert_allclose(got.box.size, obj.box.size)
    assert got.box.yaw == pytest.approx(math.pi)                 # a front along +x now faces -x
    assert got.obb.yaw == pytest.approx(2 * math.pi / 3)         # (cos, sin) -> (-cos, sin)
    np.testing.assert_allclose(m.points, [[-1.0, 2.0, 0.4], [0.5, 0.0, 1.0]])
    np.testing.assert_allclose(m.normals, [[-1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    assert m.objects[0].label == "chair" and m.instance_ids.tolist() == [3, -1] and scene.points[0, 0] == 1.0
    twice = mirror_scene(m).objects[0]
    np.testing.assert_allclose(twice.box.center, obj.box.center)
    assert twice.obb.yaw == pytest.approx(obj.obb.yaw)
    assert mirror_viewpoint((1.0, 2.0, 1.5, 0.6, 0.8, 0.0)) == (-1.0, 2.0, 1.5, -0.6, 0.8, 0.0)
    assert mirror_viewpoint(None) is None


def test_the_model_sees_the_mirror_image_of_the_geometry():
    scene = generate_scene("g0", 5, None, SynthConfig(num_points=200, min_object_points=1, num_frames=0))
    m = mirror_scene(scene)
    a = scene_geometry(scene, *reference_frame(scene))
    b = scene_geometry(m, *reference_frame(m))
    flip = np.ones(a.shape[1], dtype=np.float32)
    flip[[0, 9]] = -1                                             # x of the centre, cos of the front
    np.testing.assert_allclose(b, a * flip, atol=1e-5)


def test_left_and_right_relations_swap_in_the_mirrored_scene():
    scene = generate_scene("g1", 11, None, SynthConfig(num_points=200, min_object_points=1, num_frames=0))
    vp = (0.3, -2.0, 1.5, 0.2, 1.0, 0.0)
    mvp = mirror_viewpoint(vp)
    rel = build_scene_graph(scene, Viewpoint(np.array(vp[:3]), np.array(vp[3:]))).relations.pair
    mrel = build_scene_graph(mirror_scene(scene), Viewpoint(np.array(mvp[:3]), np.array(mvp[3:]))).relations.pair
    for a, b in (("left_of", "right_of"), ("ego_left", "ego_right"), ("front_of", "front_of"),
                 ("ego_front", "ego_front")):
        np.testing.assert_array_equal(mrel[a], rel[b])
    assert rel["left_of"].any() and rel["ego_left"].any()        # the check is not vacuous
