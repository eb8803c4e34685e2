import sys

import pytest
from scene3d_viewer import SearchHit, ViewerError, load_search_callable


def example_search(text, top_k):
    return [SearchHit("synth_00001", 0.9, (1, 2))][:top_k]


def test_load_search_callable():
    assert load_search_callable(f"{__name__}:example_search") is example_search
    with pytest.raises(ViewerError, match="neither a scene index folder"):
        load_search_callable("runs/index")
    with pytest.raises(ViewerError, match="cannot import"):
        load_search_callable("no_such_module_xyz:search")
    with pytest.raises(ViewerError, match="not callable"):
        load_search_callable("scene3d_viewer.colors:UNLABELLED_RGB")


def test_view_without_viser_says_how_to_install(monkeypatch, tmp_path, capsys):
    from scene3d.cli import main

    monkeypatch.setitem(sys.modules, "viser", None)  # as if the viewer extra were not installed
    assert main(["view", f"data={tmp_path}"]) == 2
    assert "pip install -e '.[viewer]'" in capsys.readouterr().err
