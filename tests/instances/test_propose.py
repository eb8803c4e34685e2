"""Instance proposals: analytic scenes with known answers, the room's planes, the scene-folder round trip,
labels from a pretrain run, and the stages downstream (graph, ground) on predicted objects."""

import numpy as np
import pytest

from scene3d.errors import ConfigError
from scene3d.instances import (
    AGNOSTIC_LABEL,
    PlaneConfig,
    ProposalConfig,
    average_precision,
    find_planes,
    mask_iou,
    proposal_scores,
    propose,
    strip_labels,
    superpoints,
)
from scene3d.instances.neighbours import estimate_normals
from scene3d.io import load_scene, save_scene
from scene3d.structures import Box, Scene, SceneObject
from tests.conftest import make_frame

RNG = np.random.default_rng(0)


def _grid_plane(lo, hi, axis: int, value: float, step: float = 0.05) -> np.ndarray:
    """Points on a grid over the axis-aligned rectangle [lo, hi] (the two other axes) at ``axis = value``."""
    others = [a for a in range(3) if a != axis]
    u = np.arange(lo[0], hi[0] + 1e-9, step)
    v = np.arange(lo[1], hi[1] + 1e-9, step)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.zeros((uu.size, 3))
    pts[:, others[0]], pts[:, others[1]], pts[:, axis] = uu.ravel(), vv.ravel(), value
    return pts


def _box_points(center, size, step: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Grid points on the six faces of an axis-aligned box, with outward normals."""
    c, h = np.asarray(center, float), np.asarray(size, float) / 2
    pts, nrm = [], []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for sign in (-1.0, 1.0):
            face = _grid_plane(c[others] - h[others], c[others] + h[others], axis, c[axis] + sign * h[axis], step)
            pts.append(face)
            n = np.zeros_like(face)
            n[:, axis] = sign
            nrm.append(n)
    return np.concatenate(pts), np.concatenate(nrm)


def _scene(parts: list[tuple[str, np.ndarray, np.ndarray, tuple[int, int, int]]], scene_id: str = "analytic") -> Scene:
    """A labelled scene from (label, points, normals, colour) parts, one object each."""
    pts = np.concatenate([p for _, p, _, _ in parts]).astype(np.float32)
    nrm = np.concatenate([n for _, _, n, _ in parts]).astype(np.float32)
    col = np.concatenate([np.tile(np.array(c, np.uint8), (len(p), 1)) for _, p, _, c in parts])
    ids = np.concatenate([np.full(len(p), i, np.int32) for i, (_, p, _, _) in enumerate(parts)])
    objects = [SceneObject(object_id=i, label=label, box=Box.from_min_max(p.min(0), p.max(0)))
               for i, (label, p, _, _) in enumerate(parts)]
    return Scene(scene_id, points=pts, colors=col, instance_ids=ids, objects=objects, normals=nrm)


def _boxes_on_floor() -> Scene:
    """A 4 m x 3 m floor and three separated boxes standing on it, each its own colour."""
    floor = _grid_plane((0.0, 0.0), (4.0, 3.0), 2, 0.0)
    parts = [("floor", floor, np.tile([0.0, 0.0, 1.0], (len(floor), 1)), (120, 120, 120))]
    for label, centre, size, colour in [("table", (1.0, 1.0, 0.4), (0.8, 0.6, 0.8), (150, 90, 40)),
                                        ("cabinet", (3.0, 0.8, 0.5), (0.5, 0.5, 1.0), (230, 230, 230)),
                                        ("box", (2.5, 2.4, 0.2), (0.4, 0.4, 0.4), (30, 30, 200))]:
        p, n = _box_points(centre, size)
        keep = p[:, 2] > 1e-6  # the bottom face lies in the floor: a scan never sees it
        parts.append((label, p[keep], n[keep], colour))
    return _scene(parts)


def _room(width=4.0, depth=3.0, height=2.6) -> Scene:
    """An empty room: floor, ceiling and four walls as grids of points."""
    up = np.array([0.0, 0.0, 1.0])
    parts = [("floor", _grid_plane((0, 0), (width, depth), 2, 0.0), up, (120, 120, 120)),
             ("ceiling", _grid_plane((0, 0), (width, depth), 2, height), -up, (240, 240, 240))]
    for axis, value, sign, extent in [(0, 0.0, 1, depth), (0, width, -1, depth), (1, 0.0, 1, width),
                                      (1, depth, -1, width)]:
        p = _grid_plane((0.05, 0.05), (extent - 0.05, height - 0.05), axis, value)
        n = np.zeros(3)
        n[axis] = sign
        parts.append(("wall", p, n, (200, 190, 170)))
    return _scene([(label, p, np.tile(n, (len(p), 1)), c) for label, p, n, c in parts], "room")


def test_separated_boxes_give_exact_instances():
    truth = _boxes_on_floor()
    pred = propose(strip_labels(truth))
    _, _, iou = mask_iou(truth.instance_ids, pred.instance_ids)
    assert iou.shape == (4, 4)
    assert np.allclose(np.sort(iou.max(axis=1)), 1.0)        # every true instance found exactly
    labels = sorted(o.label for o in pred.objects)
    assert labels == ["floor", AGNOSTIC_LABEL, AGNOSTIC_LABEL, AGNOSTIC_LABEL]
    for obj in pred.objects:
        assert obj.predicted and 0 <= obj.score <= 1
        assert obj.raw_label == ("plane" if obj.label == "floor" else "segment")
        if obj.label == AGNOSTIC_LABEL:
            assert obj.label_scores == () and obj.score == 1.0  # nothing touches a box but the floor
        else:
            assert obj.label_scores[0][0] == "floor" and obj.score > 0.9
    for t in (0.25, 0.5):
        r = proposal_scores(truth, pred, t)
        assert (r.found, r.num_true, r.label_hits) == (4, 4, 1) and average_precision([r]) == 1.0
        objects_only = proposal_scores(truth, pred, t, objects_only=True)
        assert objects_only.num_true == 3 and len(objects_only.hits) == 3


def test_superpoints_never_cross_separated_objects():
    truth = _boxes_on_floor()
    groups = superpoints(truth)
    assert groups.shape == (truth.num_points,) and groups.min() == 0 and len(np.unique(groups)) == groups.max() + 1
    for g in np.unique(groups):  # each superpoint lies inside one true object
        assert len(np.unique(truth.instance_ids[groups == g])) == 1
    assert len(np.unique(groups)) >= 4
    with pytest.raises(ValueError, match="at least 2"):
        superpoints(Scene("one", points=np.zeros((1, 3), np.float32), colors=np.zeros((1, 3), np.uint8),
                          instance_ids=np.full(1, -1, np.int32)))


def test_touching_boxes_split_by_colour_and_merge_when_alike():
    floor = _grid_plane((0.0, 0.0), (3.0, 3.0), 2, 0.0)
    a, na = _box_points((1.0, 1.0, 0.3), (0.6, 0.6, 0.6))
    b, nb = _box_points((1.0, 1.0, 0.8), (0.3, 0.3, 0.4))    # stands on a
    a_keep, b_keep = a[:, 2] > 1e-6, b[:, 2] > 0.6 + 1e-6
    up = np.tile([0.0, 0.0, 1.0], (len(floor), 1))
    for colour, expected in [((200, 30, 30), 3), ((60, 60, 200), 2)]:
        scene = _scene([("floor", floor, up, (120, 120, 120)), ("crate", a[a_keep], na[a_keep], (60, 60, 200)),
                        ("lamp", b[b_keep], nb[b_keep], colour)])
        pred = propose(strip_labels(scene))
        assert len(pred.objects) == expected
        if expected == 3:
            assert min(o.score for o in pred.objects if o.label == AGNOSTIC_LABEL) < 1.0   # they touch


def test_room_planes_found():
    room = _room()
    planes = find_planes(room.points, room.normals)
    assert [p.label for p in planes[:2]] == ["floor", "ceiling"] and [p.label for p in planes[2:]] == ["wall"] * 4
    assert abs(planes[0].offset * np.sign(planes[0].normal[2])) < 1e-6
    assert abs(abs(planes[1].offset) - 2.6) < 1e-6
    offsets = sorted(round(abs(p.offset), 6) for p in planes[2:])
    assert offsets == [0.0, 0.0, 3.0, 4.0]
    all_idx = np.concatenate([p.indices for p in planes])
    assert len(all_idx) == len(np.unique(all_idx)) == room.num_points
    assert all(0.99 <= p.score <= 1 for p in planes)
    pred = propose(strip_labels(room))
    r = proposal_scores(room, pred, 0.5)
    assert r.found == r.num_true == 6 and average_precision([r]) == 1.0
    # a low room has no ceiling: the top plane is not taken as one
    low = find_planes(room.points, room.normals, PlaneConfig(min_room_height=3.0))
    assert "ceiling" not in [p.label for p in low]


def test_estimated_normals_when_the_scan_has_none():
    truth = _boxes_on_floor()
    normals = estimate_normals(truth.points)
    assert np.abs(np.einsum("ij,ij->i", normals, truth.normals)).mean() > 0.9
    pred = propose(strip_labels(Scene(truth.scene_id, points=truth.points, colors=truth.colors,
                                      instance_ids=truth.instance_ids, objects=truth.objects)))
    assert proposal_scores(truth, pred, 0.5).found == 4


def test_strip_labels_and_round_trip(tmp_path):
    truth = _boxes_on_floor()
    truth.frames = [make_frame()]
    truth.frames[0].instance = np.zeros((6, 8), dtype=np.int32)
    bare = strip_labels(truth)
    assert bare.objects == [] and (bare.instance_ids == -1).all() and bare.frames[0].instance is None
    assert truth.objects and truth.frames[0].instance is not None            # the input is untouched
    pred = propose(bare)
    loaded = load_scene(save_scene(pred, tmp_path))
    assert loaded.objects == pred.objects and np.array_equal(loaded.instance_ids, pred.instance_ids)
    assert all(o.predicted for o in loaded.objects)


def test_bad_input_errors():
    with pytest.raises(ConfigError, match="classes need a checkpoint"):
        propose(_boxes_on_floor(), classes=["chair"])
    with pytest.raises(ConfigError, match="label_source"):
        ProposalConfig(label_source="guess")
    with pytest.raises(ValueError, match="at least 2"):
        propose(Scene("empty"))


def test_metrics_by_hand():
    truth = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    pred = np.array([5, 5, 5, -1, 1, 1, 1, 1])
    t_ids, p_ids, iou = mask_iou(truth, pred)
    assert t_ids.tolist() == [0, 1] and p_ids.tolist() == [1, 5]
    assert np.allclose(iou, [[0.0, 0.75], [0.5, 0.0]])
