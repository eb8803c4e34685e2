import numpy as np
import pytest
from scene3d_viewer import (
    COLOR_MODES,
    ViewerError,
    heat_colors,
    palette,
    point_colors,
    relevancy,
)
from scene3d_viewer.colors import UNLABELLED_RGB

from scene3d.structures import GroundingResult, RankedObject


def _result(scene, scores):
    ranked = [RankedObject(object_id=oid, label=scene.object(oid).label, score=s, box=scene.object(oid).box)
              for oid, s in scores]
    return GroundingResult(query="q", scene_id=scene.scene_id, ranked=ranked)


def test_every_mode_gives_uint8_per_point(tiny_scene):
    for mode in COLOR_MODES:
        c = point_colors(tiny_scene, mode)
        assert c.shape == (tiny_scene.num_points, 3) and c.dtype == np.uint8
    assert point_colors(tiny_scene, "rgb") is tiny_scene.colors
    with pytest.raises(ViewerError, match="unknown colour mode 'pca'"):
        point_colors(tiny_scene, "pca")


def test_instance_and_class_colours_follow_ids_and_labels(tiny_scene):
    inst, cls = point_colors(tiny_scene, "instance"), point_colors(tiny_scene, "class")
    ids = tiny_scene.instance_ids
    for oid in np.unique(ids):  # one colour per object, distinct between objects
        assert len(np.unique(inst[ids == oid], axis=0)) == 1
    assert len(np.unique(inst, axis=0)) == len(tiny_scene.objects)
    chairs = [o.object_id for o in tiny_scene.objects if o.label == "chair"]  # two chairs share a class colour
    np.testing.assert_array_equal(cls[ids == chairs[0]][0], cls[ids == chairs[1]][0])
    assert not np.array_equal(inst[ids == chairs[0]][0], inst[ids == chairs[1]][0])
    tiny_scene.instance_ids[:5] = -1
    np.testing.assert_array_equal(point_colors(tiny_scene, "class")[:5], np.tile(UNLABELLED_RGB, (5, 1)))


def test_palette_is_stable_and_distinct():
    p = palette(12)
    np.testing.assert_array_equal(palette(30)[:12], p)
    assert len(np.unique(p, axis=0)) == 12


def test_relevancy_is_score_over_best(tiny_scene):
    ids = tiny_scene.instance_ids
    rel = relevancy(tiny_scene, _result(tiny_scene, [(2, 0.6), (3, 0.3)]))
    assert rel.shape == (tiny_scene.num_points,)
    np.testing.assert_allclose(rel[ids == 2], 1.0)
    np.testing.assert_allclose(rel[ids == 3], 0.5)
    assert (rel[(ids != 2) & (ids != 3)] == 0).all()
    assert (relevancy(tiny_scene, None) == 0).all()
    hot = point_colors(tiny_scene, "relevancy", _result(tiny_scene, [(2, 0.6)]))
    np.testing.assert_array_equal(hot[ids == 2][0], heat_colors(np.array([1.0]))[0])
    other = _result(tiny_scene, [(2, 0.6)])
    other.scene_id = "another"
    with pytest.raises(ViewerError, match="for scene 'another'"):
        relevancy(tiny_scene, other)


def test_heat_colors_dark_to_bright():
    c = heat_colors(np.array([0.0, 0.5, 1.0, 2.0])).astype(int).sum(1)
    assert c[0] < c[1] < c[2] and c[2] == c[3]  # clipped to [0, 1]


def test_low_confidence_is_said_in_the_page():
    pytest.importorskip("viser")
    from scene3d_viewer import ViewerPage

    sure = GroundingResult(query="the chair", scene_id="s", class_match=0.9)
    unsure = GroundingResult(query="the piano", scene_id="s", low_confidence=True, class_match=0.31)
    assert ViewerPage._low_confidence_html(sure) == ""
    assert "low confidence" in ViewerPage._low_confidence_html(unsure) and "0.31" in ViewerPage._low_confidence_html(unsure)


def test_class_colours_mute_walls_floor_and_ceiling(view_data):
    from scene3d_viewer.colors import STRUCTURE_RGB

    from scene3d.io import load_scene

    scene = load_scene(view_data / "synth_00000", frames=False, mesh=False)
    colors = point_colors(scene, "class")
    labels = np.array([o.label for o in scene.objects])[
        np.searchsorted([o.object_id for o in scene.objects], scene.instance_ids)]
    for label, rgb in STRUCTURE_RGB.items():
        part = colors[(scene.instance_ids >= 0) & (labels == label)]
        assert len(part) and (part == rgb).all()
    furniture = colors[(scene.instance_ids >= 0) & ~np.isin(labels, list(STRUCTURE_RGB))]
    spread = furniture.astype(int).max(1) - furniture.astype(int).min(1)   # saturation: furniture stays coloured
    assert len(furniture) and np.median(spread) > 60


def _segment_folder(scene, folder, query=True):
    """A ``scene3d segment`` output for ``scene`` with 3 classes, labels by point index."""
    import torch

    from scene3d.distill.segment import PointSegmentation, write_segmentation

    n = scene.num_points
    labels = torch.arange(n) % 3
    seg = PointSegmentation(classes=["wall", "chair", "lamp"], labels=labels, scores=torch.rand(n, 3),
                            relevancy=torch.linspace(0, 1, n) if query else None,
                            pca_rgb=np.tile(np.array([[1, 2, 3]], dtype=np.uint8), (n, 1)), query="lamp" if query else None)
    write_segmentation(seg, folder, {"scene_id": scene.scene_id, "num_points": n})
    return labels.numpy()


def test_segment_layers_colour_their_scene_only(tiny_scene, tmp_path):
    from dataclasses import replace

    from scene3d_viewer import LAYER_MODES, class_table, load_segment_layers

    labels = _segment_folder(tiny_scene, tmp_path / "seg")
    layers = load_segment_layers(tmp_path / "seg")
    assert tuple(layers.colors) == LAYER_MODES and layers.scene_id == tiny_scene.scene_id
    np.testing.assert_array_equal(layers.colors_for(tiny_scene, "segment"), class_table(["wall", "chair", "lamp"])[labels])
    assert tuple(class_table(["wall"])[0]) == (205, 205, 205)  # structure in the class mode's grey
    np.testing.assert_array_equal(layers.colors_for(tiny_scene, "feature pca")[0], [1, 2, 3])
    np.testing.assert_array_equal(layers.colors_for(tiny_scene, "query relevancy"),
                                  heat_colors(np.linspace(0, 1, tiny_scene.num_points)))
    with pytest.raises(ViewerError, match="not 'other'"):
        layers.colors_for(replace(tiny_scene, scene_id="other"), "segment")
    _segment_folder(tiny_scene, tmp_path / "plain", query=False)
    assert "query relevancy" not in load_segment_layers(tmp_path / "plain").colors
    with pytest.raises(ViewerError, match="segment.json: not found"):
        load_segment_layers(tmp_path / "nothing")
    (tmp_path / "seg" / "segment.json").write_text("{}")
    with pytest.raises(ViewerError, match="not a scene3d segment summary"):
        load_segment_layers(tmp_path / "seg")
