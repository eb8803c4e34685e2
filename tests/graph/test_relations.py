import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay

from scene3d.graph import Viewpoint, build_scene_graph, load_graph_json
from scene3d.graph.relations import _hull_edges, _in_hull
from scene3d.structures import Box, Scene, SceneObject


def obj(i, label, center, size, yaw=0.0, front=False, color=None):
    return SceneObject(i, label, Box(np.array(center, float), np.array(size, float), float(yaw)), has_front=front,
                       color_name=color)


def room(*objects):
    shell = [obj(100, "floor", (2.5, 2.5, -0.01), (5, 5, 0.02)),
             obj(101, "wall", (2.5, -0.01, 1.4), (5, 0.02, 2.8)),
             obj(102, "wall", (2.5, 5.01, 1.4), (5, 0.02, 2.8))]
    return Scene("s", objects=shell + list(objects))


def pairs(graph, relation):
    return set(graph.edges(relation))


def test_support_above_mounted():
    g = build_scene_graph(room(
        obj(1, "table", (2, 2, 0.375), (1.2, 0.8, 0.75)),
        obj(2, "cup", (2.1, 2.0, 0.80), (0.08, 0.08, 0.1)),
        obj(3, "lamp", (2.0, 2.0, 1.8), (0.3, 0.3, 0.3)),         # hangs 0.9 m above the table
        obj(4, "picture", (3.0, 0.03, 1.5), (0.8, 0.04, 0.5)),    # on the south wall
    ))
    assert pairs(g, "on") >= {(2, 1), (1, 100)} and (3, 1) not in pairs(g, "on")
    assert (1, 2) in pairs(g, "supporting")
    assert (3, 1) in pairs(g, "above") and (1, 3) in pairs(g, "below") and (2, 1) not in pairs(g, "above")
    assert pairs(g, "mounted_on") == {(4, 101)}


def test_near_far_next_to():
    g = build_scene_graph(room(
        obj(1, "chair", (1.0, 1.0, 0.45), (0.5, 0.5, 0.9)),
        obj(2, "chair", (1.6, 1.0, 0.45), (0.5, 0.5, 0.9)),       # 0.1 m gap
        obj(3, "sofa", (4.5, 4.5, 0.4), (0.8, 0.8, 0.8)),
    ))
    assert {(1, 2), (2, 1)} <= pairs(g, "next_to") and {(1, 2), (2, 1)} <= pairs(g, "near")
    assert (1, 3) in pairs(g, "far") and (1, 3) not in pairs(g, "near")


def test_closest_needs_a_margin():
    base = [obj(1, "table", (2.5, 2.5, 0.4), (1, 1, 0.8))]
    g = build_scene_graph(room(*base, obj(2, "chair", (1.5, 2.5, 0.45), (0.4, 0.4, 0.9)),
                               obj(3, "chair", (1.0, 2.5, 0.45), (0.4, 0.4, 0.9)),
                               obj(4, "chair", (4.6, 2.5, 0.45), (0.4, 0.4, 0.9))))
    assert (2, 1) in pairs(g, "closest") and (4, 1) in pairs(g, "farthest")
    # two chairs at almost the same distance: no answer
    g = build_scene_graph(room(*base, obj(2, "chair", (1.5, 2.5, 0.45), (0.4, 0.4, 0.9)),
                               obj(3, "chair", (3.55, 2.5, 0.45), (0.4, 0.4, 0.9))))
    assert not pairs(g, "closest")


def test_between():
    g = build_scene_graph(room(
        obj(1, "bed", (1.0, 2.5, 0.4), (1.0, 1.0, 0.8)),
        obj(2, "desk", (4.0, 2.5, 0.4), (1.0, 1.0, 0.8)),
        obj(3, "chair", (2.5, 2.5, 0.45), (0.4, 0.4, 0.9)),       # on the line between them
        obj(4, "plant", (2.5, 4.3, 0.45), (0.4, 0.4, 0.9)),       # off to the side
    ))
    assert g.between() == [(3, 1, 2)]


def test_allocentric_follows_the_anchor_front_and_sr3d_sides():
    # a desk facing +y (yaw pi/2); things in front are at larger y
    desk = obj(1, "desk", (2.5, 2.5, 0.4), (0.6, 1.2, 0.8), yaw=math.pi / 2, front=True)
    g = build_scene_graph(room(
        desk,
        obj(2, "chair", (2.5, 3.5, 0.45), (0.4, 0.4, 0.9)),       # in front
        obj(3, "bin", (2.5, 1.5, 0.2), (0.3, 0.3, 0.4)),          # behind
        obj(4, "lamp", (3.8, 2.5, 0.3), (0.3, 0.3, 0.6)),         # +x: the desk's own right
        obj(5, "box", (1.2, 2.5, 0.2), (0.3, 0.3, 0.4)),          # -x: the desk's own left
    ))
    assert (2, 1) in pairs(g, "front_of") and (3, 1) in pairs(g, "behind")
    # facing the desk's front (looking towards -y), +x is on the viewer's left
    assert (4, 1) in pairs(g, "left_of") and (5, 1) in pairs(g, "right_of")
    # an anchor without a front has no allocentric relations
    g = build_scene_graph(room(obj(1, "table", (2.5, 2.5, 0.4), (1, 1, 0.8)), obj(2, "chair", (2.5, 3.5, 0.45), (0.4, 0.4, 0.9))))
    assert not pairs(g, "front_of")


def test_egocentric_only_with_a_viewpoint():
    scene = room(obj(1, "chair", (1.5, 2.5, 0.45), (0.4, 0.4, 0.9)), obj(2, "table", (2.5, 2.5, 0.4), (0.8, 0.8, 0.8)))
    assert "ego_left" not in build_scene_graph(scene).relation_names()
    # standing at y=0 looking +y: -x is on the left
    g = build_scene_graph(scene, Viewpoint(np.array([2.0, 0.2, 1.5]), np.array([0.0, 1.0, -0.3])))
    assert (1, 2) in pairs(g, "ego_left") and (2, 1) in pairs(g, "ego_right")
    g = build_scene_graph(scene, Viewpoint(np.array([2.0, 4.8, 1.5]), np.array([0.0, -1.0, 0.0])))
    assert (1, 2) in pairs(g, "ego_right")
    with pytest.raises(ValueError, match="horizontal"):
        Viewpoint(np.zeros(3), np.array([0.0, 0.0, 1.0]))


def test_superlatives_attributes_inside():
    g = build_scene_graph(room(
        obj(1, "box", (1, 1, 0.1), (0.2, 0.2, 0.2), color="red"),
        obj(2, "box", (2, 1, 0.3), (0.6, 0.6, 0.6), color="blue"),
        obj(3, "box", (3, 1, 0.15), (0.3, 0.3, 0.3), color="red"),
        obj(4, "cabinet", (4, 4, 0.5), (0.8, 0.8, 1.0)),
        obj(5, "book", (4, 4, 0.5), (0.1, 0.2, 0.25)),            # inside the cabinet
    ))
    nodes = g.to_networkx().nodes
    assert "largest" in nodes[2]["superlatives"] and "tallest" in nodes[2]["superlatives"]
    assert "smallest" in nodes[1]["superlatives"] and nodes[1]["color"] == "red"
    assert (5, 4) in pairs(g, "inside") and (4, 5) in pairs(g, "contains")
    assert nodes[1]["size_class"] == "small" and nodes[4]["size_class"] == "large"


def test_empty_scene_and_json_round_trip(tmp_path):
    empty = build_scene_graph(Scene("e"))
    assert empty.num_edges() == 0 and empty.to_networkx().number_of_nodes() == 0
    g = build_scene_graph(room(obj(1, "table", (2, 2, 0.375), (1.2, 0.8, 0.75)), obj(2, "cup", (2.1, 2, 0.8), (0.08, 0.08, 0.1))))
    g.save(tmp_path / "graph.json")
    back = load_graph_json(tmp_path / "graph.json")
    assert back.number_of_edges() == g.to_networkx().number_of_edges() == g.num_edges()
    assert back.has_edge(2, 1, key="on") and back.nodes[2]["label"] == "cup"
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    from scene3d.errors import SceneFormatError

    with pytest.raises(SceneFormatError, match="bad.json"):
        load_graph_json(tmp_path / "bad.json")
    with pytest.raises(KeyError, match="unknown relation"):
        g.edges("levitating")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=8, max_size=8, unique=True),
       st.lists(st.tuples(st.floats(-6, 6), st.floats(-6, 6)), min_size=1, max_size=20))
def test_in_hull_matches_scipy(points, queries):
    pts = np.array(points)[None]
    if np.linalg.matrix_rank(pts[0] - pts[0].mean(0)) < 2:
        return  # degenerate: no area
    q = np.array(queries)[None]
    start, inward, is_edge = _hull_edges(pts)
    ours = _in_hull(start, inward, is_edge, q)[0]
    ref = Delaunay(pts[0]).find_simplex(q[0]) >= 0
    # points within 1e-6 of the boundary may go either way
    from scipy.spatial import ConvexHull

    hull = ConvexHull(pts[0])
    dist = (hull.equations[:, :2] @ q[0].T + hull.equations[:, 2:3]).max(axis=0)
    clear = np.abs(dist) > 1e-6
    assert (ours[clear] == ref[clear]).all()
