import math

import numpy as np
import pytest

from scene3d.cli import main
from scene3d.repository import SceneIndex, register_objects
from scene3d.synth import SynthConfig, generate_scene
from scene3d.synth.rescan import rescan

CFG = SynthConfig(num_points=300, min_object_points=1, num_frames=0)


@pytest.fixture(scope="module")
def rooms():
    return [generate_scene(f"room{i}", 300 + i, "bedroom" if i % 2 else "office", CFG) for i in range(6)]


def test_registration_recovers_a_known_move(rooms):
    room = rooms[0]
    rng = np.random.default_rng(3)
    copy = rescan(room, "copy", rng, keep=1.0, noise=0.0)
    reg = register_objects(room, copy)
    furniture = [o for o in room.objects if o.label not in ("wall", "floor", "ceiling")]
    assert reg.overlap == 1.0 and len(reg.matches) == len(furniture)
    moved = np.array([o.box.center for o in room.objects]) @ reg.transform[:3, :3].T + reg.transform[:3, 3]
    np.testing.assert_allclose(moved, np.array([o.box.center for o in copy.objects]), atol=1e-9)
    assert abs(np.linalg.det(reg.transform[:3, :3]) - 1) < 1e-12 and reg.transform[2, 2] == 1.0
    # cropped and noisy: the surviving objects still match
    crop = rescan(room, "crop", np.random.default_rng(4), keep=0.6, noise=0.03)
    assert register_objects(crop, room).overlap > 0.9
    # another room of the same kind is not the same place
    assert register_objects(rooms[2], room).overlap < 0.5


def test_duplicates_found_in_an_index(rooms, tmp_path):
    index = SceneIndex(tmp_path / "idx")
    for r in rooms:
        index.add(r)
    rng = np.random.default_rng(7)
    copies = {f"{r.scene_id}_rescan": r.scene_id for r in rooms[:3]}
    for r in rooms[:3]:
        index.add(rescan(r, f"{r.scene_id}_rescan", rng))
    found = {tuple(sorted((key, m.key))) for key, m in index.duplicates(progress=False)}
    assert found == {tuple(sorted(p)) for p in copies.items()}
    match = index.search_scene(rescan(rooms[4], "query", rng), top_k=1)[0]
    assert match.key == rooms[4].scene_id and match.overlap > 0.8
    assert not math.isnan(match.score)
    index.close()
    assert main(["duplicates", f"index={tmp_path / 'idx'}", f"out={tmp_path / 'd.json'}"]) == 0
    assert (tmp_path / "d.json").read_text().count("_rescan") == 3
