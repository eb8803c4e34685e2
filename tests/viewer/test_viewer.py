"""The viewer without a browser (tabs are websocket connections): state per tab, errors shown in the
page, exports, the command."""

import json
import re
import time

import numpy as np
import pytest
from scene3d_viewer import SearchHit, ViewerError

from scene3d.cli import main
from scene3d.io import load_scene

viser = pytest.importorskip("viser", reason="the viewer needs viser: pip install -e '.[viewer]'")
from scene3d_viewer import Viewer  # noqa: E402  (after the skip: it needs viser)

from tests.viewer.tabs import open_tab  # noqa: E402


def hits_for(text, top_k):
    return [SearchHit("synth_00001", 0.8, (3,)), SearchHit("elsewhere_7", 0.5)][:top_k]


@pytest.fixture
def server(view_data, grounder, tmp_path):
    v = Viewer(view_data, grounder=grounder, port=0, out=tmp_path / "out", search=hits_for)
    yield v
    v.close()


@pytest.fixture
def viewer(server):
    """The page of one open tab."""
    with open_tab(server) as page:
        yield page


def test_shows_first_scene_and_grounds_like_the_grounder(server, viewer, grounder, view_data):
    assert server.url.startswith("http://127.0.0.1:")
    assert viewer.state.scene_ids == ["synth_00000", "synth_00001"] and viewer.state.scene_id == "synth_00000"
    scene = load_scene(view_data / "synth_00000")
    hidden = viewer.state.hidden_object_ids
    labels = {o.object_id: o.label for o in scene.objects}
    assert {labels[i] for i in hidden} == {"ceiling", "wall"}   # the first view cuts the ceiling and near walls
    assert viewer._points.points.shape == ((~np.isin(scene.instance_ids, list(hidden))).sum(), 3)
    assert not np.isin(scene.instance_ids[viewer._shown], list(hidden)).any()
    boxed = [o for o in scene.objects if o.object_id not in hidden and o.label not in ("wall", "floor", "ceiling")]
    assert len(viewer._scene_nodes) == 1 + 2 * len(boxed) + 2  # points, boxes+labels of the furniture, 2 frusta
    result = viewer.ground("the chair next to the table")
    expected = grounder.ground(load_scene(view_data / "synth_00000"), "the chair next to the table", top_k=5)
    assert [r.object_id for r in result.ranked] == [r.object_id for r in expected.ranked]
    assert viewer.state.highlighted_object_id == expected.best.object_id
    assert f'data-object-id="{expected.best.object_id}"' in viewer._highlight.content
    assert viewer._ranked.content.split("\n\n")[0].count("\n") == 1 + len(expected.ranked)
    # a box per candidate and per anchor; labels only on the top answer and the anchors
    assert len(viewer._grounding_nodes) == len(expected.ranked) + 2 * len(expected.anchors) + 1
    assert sum(n.name.endswith("/label") for n in viewer._grounding_nodes) == 1 + len(expected.anchors)
    assert ("**anchors:**" in viewer._ranked.content) == bool(expected.anchors)
    viewer.set_color_mode("relevancy")
    colors = viewer._points.colors
    top_points = viewer._scene.instance_ids[viewer._shown] == expected.best.object_id
    assert colors.shape == (len(viewer._shown), 3) and colors[top_points].astype(int).sum(1).min() > 400
    viewer.select_object(expected.best.object_id)
    assert viewer.state.selected_object_id == expected.best.object_id
    assert viewer._label_nodes[expected.best.object_id].visible
    viewer.set_cutaway(False)   # everything back, the result kept
    assert viewer._shown is None and not viewer.state.hidden_object_ids
    assert viewer.state.highlighted_object_id == expected.best.object_id
    viewer.show_scene("synth_00001")  # a new scene clears the result
    assert viewer.state.result is None and viewer.state.highlighted_object_id is None
    assert viewer._scene_dd.value == "synth_00001" and not viewer._grounding_nodes


def test_errors_are_shown_in_the_page(viewer, view_data):
    viewer.ground("the lamp")
    with pytest.raises(ViewerError, match="query is empty"):
        viewer.ground("   ")
    assert viewer.state.highlighted_object_id is None and "query is empty" in viewer._error.content
    with pytest.raises(ViewerError, match="unknown scene 'nope'"):
        viewer.show_scene("nope")
    assert viewer.state.error.startswith("unknown scene") and viewer.state.scene_id == "synth_00000"
    with pytest.raises(ViewerError, match="unknown colour mode"):
        viewer.set_color_mode("pca")
    with pytest.raises(ViewerError, match="object 999 is not in scene"):
        viewer.select_object(999)
    with pytest.raises(ViewerError, match="sent no render within 0.5 s"):
        viewer.save_png(timeout=0.5)   # the test's tab renders nothing
    (view_data / "synth_00001" / "scene.json").rename(view_data / "scene.json.bak")
    try:  # a scene folder that became unreadable after start-up
        with pytest.raises(ViewerError, match="cannot read scene 'synth_00001'"):
            viewer.show_scene("synth_00001")
    finally:
        (view_data / "scene.json.bak").rename(view_data / "synth_00001" / "scene.json")
    viewer.ground("the lamp")  # a good request clears the error line
    assert viewer.state.error is None and 'data-error=""' in viewer._error.content


def test_gui_callbacks_never_raise(viewer):
    viewer._query.value = ""  # what the page sends when the box is cleared
    viewer._guard(viewer._on_query_typed)(None)
    assert "query is empty" in viewer.state.error


def test_missing_model_is_reported(view_data, tmp_path):
    v = Viewer(view_data, checkpoint=tmp_path / "no_run", port=0)
    try:
        assert "grounding model not loaded" in v.model_error and "not a grounding run" in v.model_error
        with open_tab(v) as page:
            assert page.state.error == v.model_error
            with pytest.raises(ViewerError, match="not a grounding run"):
                page.ground("the chair")
            assert not hasattr(page, "_hits")  # no repository panel without a search
    finally:
        v.close()
    v = Viewer(view_data, port=0)   # no checkpoint: the packaged model, grounding on
    try:
        assert v.grounder is not None and v.model_error is None
        with open_tab(v) as page:
            assert page.state.error is None and "type a sentence" in page._highlight.content
            assert page.ground("the chair").best is not None
    finally:
        v.close()


def test_repository_panel(viewer):
    hits = viewer.search_repository("a bedroom with two chairs")
    assert [h.scene_id for h in hits] == ["synth_00001", "elsewhere_7"]
    assert "elsewhere_7 | - | 0.500 | - | (not in this data folder)" in viewer._hits.content
    assert viewer._hit_dd.options == ("synth_00001",)
    viewer._open_hit()
    assert viewer.state.scene_id == "synth_00001"
    with pytest.raises(ViewerError, match="search text is empty"):
        viewer.search_repository(" ")


def test_repository_panel_with_a_scene_index(view_data, grounder, tmp_path):
    from scene3d.repository import SceneIndex

    index = SceneIndex(tmp_path / "idx")
    for sid in ("synth_00000", "synth_00001"):
        index.add(load_scene(view_data / sid, frames=False, mesh=False))
    room = load_scene(view_data / "synth_00001", frames=False, mesh=False).meta.room_type
    v = Viewer(view_data, grounder=grounder, port=0, out=tmp_path / "out", search=index.search_text)
    try:
        with open_tab(v) as page:
            hits = page.search_repository(f"a {room}")
            assert {h.scene_id for h in hits} == {"synth_00000", "synth_00001"} and hits[0].object_ids
            assert page._hit_dd.options[0] == hits[0].scene_id
    finally:
        v.close()


def test_html_export_is_self_contained(viewer, tmp_path):
    result = viewer.ground("the table")
    path = viewer.export_html(tmp_path / "share" / "scene.html")
    doc = path.read_text()
    assert "window.__VISER_EMBED_DATA__=" in doc
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"https?:", doc)  # nothing fetched at view time
    data = json.loads(re.search(r'id="scene3d-grounding">(.*?)</script>', doc, re.DOTALL).group(1))
    assert data["scene_id"] == "synth_00000"
    assert data["grounding"]["ranked"][0]["object_id"] == result.best.object_id
    assert f"object {result.best.object_id} &middot;" in doc
    assert not list(path.parent.glob(".*.tmp"))  # written atomically


def test_view_command(view_data, tmp_path, monkeypatch, capsys):
    served = []
    monkeypatch.setattr(Viewer, "serve_forever", lambda self: (served.append(self), self.close()))
    assert main(["view", f"data={view_data}", "port=0", f"checkpoint={tmp_path / 'none'}",
                 "index=tests.viewer.test_viewer:hits_for", "scene=synth_00001"]) == 0
    out, err = capsys.readouterr()
    assert "view: 2 scenes" in out and "http://127.0.0.1:" in out and "not a grounding run" in err
    assert served[0].first_scene == "synth_00001"
    assert main(["view", f"data={view_data}", "port=0", "index=runs/index"]) == 2
    assert "neither a scene index folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["view", f"data={empty}", "port=0"]) == 2
    assert "no scene folders" in capsys.readouterr().err


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_each_tab_has_its_own_page(server, grounder, view_data):
    with open_tab(server) as first:
        result = first.ground("the chair next to the table")
        first.set_color_mode("class")
        with open_tab(server) as second:   # a second tab opens on the empty state
            assert second is not first and second.client_id != first.client_id
            assert second.state.result is None and second.state.color_mode == "rgb"
            assert 'data-object-id=""' in second._highlight.content and not second._grounding_nodes
            second.show_scene("synth_00001")
            second.ground("the lamp")
            assert first.state.scene_id == "synth_00000" and first.state.result is result   # unchanged
            assert f'data-object-id="{result.best.object_id}"' in first._highlight.content
            assert server.page() is second   # used last
        _wait_for(lambda: second.client_id not in server.pages.session_ids())   # a closed tab's page is let go
    assert not server.pages.session_ids() or server.pages.session_ids() == [first.client_id]


def test_the_least_recently_used_tab_is_closed_beyond_the_cap(view_data, grounder, tmp_path):
    v = Viewer(view_data, grounder=grounder, port=0, out=tmp_path / "out", max_tabs=1)
    try:
        with open_tab(v) as first, open_tab(v) as second:
            assert v.pages.session_ids() == [second.client_id]
            drawn = first.client.scene._handle_from_node_name   # its scene is taken down
            _wait_for(lambda: not any(n.name in drawn for n in first._scene_nodes))
            with pytest.raises(ViewerError, match=f"browser tab {first.client_id} has no page"):
                v.page(first.client_id)
    finally:
        v.close()


def test_segment_layers_add_colour_modes_for_their_scene(view_data, grounder, tmp_path):
    from scene3d_viewer import load_segment_layers

    from tests.viewer.test_colors import _segment_folder

    scene = load_scene(view_data / "synth_00001")
    _segment_folder(scene, tmp_path / "seg")
    server = Viewer(view_data, grounder=grounder, port=0, out=tmp_path / "out",
                    layers=load_segment_layers(tmp_path / "seg"))
    try:
        with open_tab(server) as page:
            assert page.state.scene_id == "synth_00001"   # the segmented scene is shown first
            assert server.color_modes[-3:] == ("segment", "feature pca", "query relevancy")
            page.set_color_mode("feature pca")
            shown = len(page._shown) if page._shown is not None else scene.num_points
            np.testing.assert_array_equal(page._points.colors, np.tile([1, 2, 3], (shown, 1)))
            page.show_scene("synth_00000")   # another scene: back to RGB, the layer modes are refused
            assert page.state.color_mode == "rgb"
            with pytest.raises(ViewerError, match="colours scene 'synth_00001'"):
                page.set_color_mode("segment")
    finally:
        server.close()
    assert main(["view", f"data={view_data}", f"segment={tmp_path / 'nothing'}"]) == 2   # before any server starts
