import itertools

import numpy as np
import pytest

from scene3d.io import load_scene, save_scene
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene
from scene3d.synth.generate import _furnish
from scene3d.synth.layout import boxes_overlap

SMALL = SynthConfig(num_points=6000, min_object_points=20, num_frames=3, width=96, height=72)
KEY_OBJECT = {"bedroom": "bed", "living room": "sofa", "kitchen": "kitchen counter", "office": "desk",
              "bathroom": "toilet", "dining room": "dining table"}


@pytest.fixture(scope="module")
def scenes():
    return {rt: generate_scene(f"t_{i}", seed=100 + i, room_type=rt, config=SMALL) for i, rt in enumerate(ROOM_TYPES)}


def test_six_room_types_with_shell_and_key_objects(scenes):
    assert len(ROOM_TYPES) == 6
    for room_type, scene in scenes.items():
        labels = scene.objects_by_label()
        assert labels["floor"] == 1 and labels["wall"] == 4 and labels["ceiling"] == 1 and labels["door"] >= 1
        assert KEY_OBJECT[room_type] in labels, (room_type, labels)
        assert scene.meta.room_type == room_type and scene.mesh is not None
        # every object has points; attributes are set
        assert set(np.unique(scene.instance_ids)) == {o.object_id for o in scene.objects}
        assert all(o.color_name and o.color_rgb is not None for o in scene.objects)


def test_distractors_and_relations_exist(scenes):
    multi = sum(any(n >= 2 for label, n in s.objects_by_label().items() if label != "wall") for s in scenes.values())
    assert multi >= 4  # most rooms hold several objects of one class
    office = scenes["office"].objects_by_label()
    assert office.get("office chair", 0) >= 1 and office.get("bookshelf", 0) >= 1


@pytest.mark.parametrize("seed, room_type", list(itertools.product(range(4), ROOM_TYPES)))
def test_nothing_interpenetrates_and_supports_hold(seed, room_type):
    lay = _furnish(np.random.default_rng(seed), room_type)
    objs = lay.objects
    for i, j in itertools.combinations(range(len(objs)), 2):
        if objs[i].supporter == j or objs[j].supporter == i:
            continue
        assert not boxes_overlap(objs[i].box, objs[j].box), (objs[i].category.name, objs[j].category.name)
    for obj in objs:
        box = obj.box
        assert (box.corners()[:, :2] >= -1e-3).all()
        assert (box.corners()[:, 0] <= lay.width + 1e-3).all() and (box.corners()[:, 1] <= lay.depth + 1e-3).all()
        if obj.supporter is not None:
            sup = objs[obj.supporter]
            levels = [f * sup.hi[2] for f in sup.category.surfaces]
            assert min(abs(obj.position[2] - z) for z in levels) < 1e-9  # stands exactly on a surface
            assert sup.box.contains(obj.position[None] + [0, 0, -1e-3])[0]


def test_frames_and_points_agree(scenes):
    """Points projected into each frame land on the same instance as the ray-cast mask (depth-tested)."""
    for scene in scenes.values():
        agree = total = 0
        for fr in scene.frames:
            w2c = np.linalg.inv(fr.cam_to_world)
            cam = scene.points.astype(np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
            z = cam[:, 2]
            front = z > 0.1
            u = np.floor(fr.K[0, 0] * cam[front, 0] / z[front] + fr.K[0, 2]).astype(int)
            v = np.floor(fr.K[1, 1] * cam[front, 1] / z[front] + fr.K[1, 2]).astype(int)
            inside = (u >= 0) & (u < fr.width) & (v >= 0) & (v < fr.height)
            idx = np.flatnonzero(front)[inside]
            u, v = u[inside], v[inside]
            visible = np.abs(fr.depth[v, u] - z[idx]) < 0.02
            agree += int((fr.instance[v, u][visible] == scene.instance_ids[idx][visible]).sum())
            total += int(visible.sum())
        assert total > 1000
        assert agree / total > 0.95, (scene.meta.room_type, agree / total)


def test_frames_have_valid_depth(scenes):
    for scene in scenes.values():
        for fr in scene.frames:
            assert (fr.depth > 0).mean() > 0.99  # a closed room: every ray hits something
            assert fr.depth.max() < 10 and (fr.instance >= 0).mean() > 0.99


def test_synthetic_scene_round_trips(scenes, tmp_path):
    scene = scenes["kitchen"]
    assert load_scene(save_scene(scene, tmp_path)) == scene


def test_noise_and_holes():
    clean = generate_scene("a", 5, "bedroom", SynthConfig(num_points=5000, num_frames=0))
    noisy = generate_scene("a", 5, "bedroom", SynthConfig(num_points=5000, num_frames=0, noise=0.01, holes=4))
    assert noisy.num_points < clean.num_points
    assert set(np.unique(noisy.instance_ids)) == set(np.unique(clean.instance_ids))  # no object erased
    with pytest.raises(ValueError, match="unknown room type"):
        generate_scene("a", 0, "garage")
