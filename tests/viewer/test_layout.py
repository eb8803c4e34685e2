"""The first view, the cut-away and the label stacking (scene3d_viewer.layout), on generated rooms."""

import numpy as np
import pytest
from scene3d_viewer.layout import (
    SHELL_LABELS,
    View,
    cutaway_object_ids,
    first_view,
    label_extent,
    place_labels,
)

from scene3d.io import list_scene_folders, load_scene


@pytest.fixture(scope="module")
def rooms(view_data):
    return [load_scene(f, frames=False, mesh=False) for f in list_scene_folders(view_data)]


def test_first_view_looks_down_on_the_furniture_from_above_the_walls(rooms):
    for scene in rooms:
        view = first_view(scene)
        furniture = np.concatenate([o.box.corners() for o in scene.objects if o.label not in SHELL_LABELS])
        lo, hi = furniture.min(0), furniture.max(0)
        assert (lo - 1e-9 <= view.look_at).all() and (view.look_at <= hi + 1e-9).all()
        walls_top = max(o.box.center[2] + o.box.size[2] / 2 for o in scene.objects if o.label == "wall")
        assert view.position[2] > walls_top + 0.5
        down = (view.look_at - view.position) / np.linalg.norm(view.look_at - view.position)
        assert -0.9 < down[2] < -0.8    # pitched 60 degrees below the horizon, not straight down


def test_cutaway_hides_ceiling_and_near_walls_only(rooms):
    for scene in rooms:
        view = first_view(scene)
        hidden = cutaway_object_ids(scene, view)
        labels = {o.object_id: o.label for o in scene.objects}
        assert {labels[i] for i in hidden} <= {"ceiling", "wall"}
        assert {i for i, lab in labels.items() if lab == "ceiling"} <= hidden
        walls = [o for o in scene.objects if o.label == "wall"]
        near = [o for o in walls if o.object_id in hidden]
        far = [o for o in walls if o.object_id not in hidden]
        assert near and far            # the camera side is cut, the back of the room stays
        # every hidden wall is nearer the camera (horizontally) than every kept one
        dist = lambda o, at=view.position[:2]: np.linalg.norm(o.box.center[:2] - at)  # noqa: E731
        assert max(map(dist, near)) < min(map(dist, far))


def test_place_labels_keeps_label_rectangles_apart_on_the_image_plane():
    view = View(np.array([0.0, -4.0, 6.0]), np.zeros(3))
    rng = np.random.default_rng(0)
    anchors = np.concatenate([np.zeros((3, 3)), rng.uniform(-0.5, 0.5, (5, 3))])   # 3 at the same spot
    texts = [("#1 chair (13) 0.91", 1.1)] + [("anchor: window (4)", 0.8)] * 7
    sizes = np.array([label_extent(text, view, scale) for text, scale in texts])
    out = place_labels(anchors, sizes, view)
    np.testing.assert_array_equal(out[0], anchors[0])                 # the top answer never moves
    np.testing.assert_array_equal(out[:, :2], anchors[:, :2])         # only lifted along z
    assert (out[:, 2] >= anchors[:, 2]).all()
    forward = (view.look_at - view.position) / np.linalg.norm(view.look_at - view.position)
    right = np.cross(forward, [0, 0, 1])
    right /= np.linalg.norm(right)
    plane = np.stack([right, np.cross(right, forward)], 1)

    def rects(points):
        xy = points @ plane
        return np.stack([xy[:, 0] - sizes[:, 0] / 2, xy[:, 1], xy[:, 0] + sizes[:, 0] / 2, xy[:, 1] + sizes[:, 1]], 1)

    def overlapping(r):
        return [(i, j) for i in range(len(r)) for j in range(i + 1, len(r))
                if r[i, 0] < r[j, 2] and r[j, 0] < r[i, 2] and r[i, 1] < r[j, 3] and r[j, 1] < r[i, 3]]

    assert overlapping(rects(out)) == []
    assert len(overlapping(rects(anchors))) >= 3       # the layout is needed: unplaced, they cover each other
    with pytest.raises(ValueError, match="straight down"):
        place_labels(anchors, sizes, View(np.array([0.0, 0.0, 5.0]), np.zeros(3)))


def test_label_size_grows_with_distance_and_text():
    near, far = View(np.array([0.0, -2.0, 3.0]), np.zeros(3)), View(np.array([0.0, -4.0, 6.0]), np.zeros(3))
    w_near, h_near = label_extent("chair", near)
    w_far, h_far = label_extent("chair", far)
    assert w_far == pytest.approx(2 * w_near) and h_far == pytest.approx(2 * h_near)
    assert label_extent("a much longer label", near)[0] > w_near
