import numpy as np
import pytest
import trimesh

from scene3d.synth.catalog import CATEGORIES

SHELL = {"floor", "wall", "ceiling", "door", "window"}


def test_enough_categories_and_placements():
    assert len(CATEGORIES) >= 30
    assert not SHELL & set(CATEGORIES)
    kinds = {c.placement for c in CATEGORIES.values()}
    assert kinds == {"wall", "floor", "on", "wall_mounted"}


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_every_category_builds_a_mesh_of_its_size(name):
    cat = CATEGORIES[name]
    rng = np.random.default_rng(0)
    for _ in range(3):
        size = cat.sample_size(rng)
        assert (np.array(cat.size_min) <= size + 1e-9).all() and (size <= np.array(cat.size_max) + 1e-9).all()
        parts = cat.build(tuple(size))
        mesh = trimesh.util.concatenate([p.mesh for p in parts])
        lo, hi = mesh.bounds
        assert lo[2] == pytest.approx(0.0, abs=1e-6), "objects stand on z = 0"
        extent = hi - lo
        # the parts fill the nominal size (handles and knobs may stick out a little)
        np.testing.assert_allclose(extent, size, atol=0.16)
        assert mesh.area > 0 and all(len(p.mesh.faces) for p in parts)


def test_parts_are_believable():
    chair = CATEGORIES["chair"].build((0.5, 0.45, 0.9))
    assert len(chair) == 6  # four legs, a seat, a back
    backs = [p for p in chair if p.mesh.bounds[1][2] == pytest.approx(0.9)]
    assert len(backs) == 1 and backs[0].mesh.bounds[1][0] < 0  # the back is at the back (-x)
    bed = CATEGORIES["bed"].build((2.0, 1.6, 1.0))
    pillows = [p for p in bed if p.role == "white"]
    assert len(bed) >= 5 and len(pillows) == 2  # frame, mattress, headboard, two pillows
    shelf = CATEGORIES["bookshelf"]
    assert len(shelf.surfaces) >= 4
