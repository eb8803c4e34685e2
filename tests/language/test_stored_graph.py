"""``scene3d language`` reads a scene's graph.json when it is current and rebuilds it otherwise."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

import scene3d.language.batch as language_batch
from scene3d.cli import main
from scene3d.graph import RelationConfig, SceneGraph
from scene3d.graph.batch import build_folder_graph, graph_dataset
from scene3d.graph.stored import read_current_graph
from scene3d.language.batch import language_dataset
from scene3d.synth import SynthConfig, generate_dataset


@pytest.fixture()
def data(tmp_path):
    generate_dataset(tmp_path, 2, seed=4, name="synth",
                     config=SynthConfig(num_points=2000, num_frames=1, width=32, height=24), progress=False)
    return tmp_path


def _same_graph(a: SceneGraph, b: SceneGraph) -> None:
    assert (a.scene_id, a.room_type, a.config) == (b.scene_id, b.room_type, b.config)
    for part_a, part_b in ((a.objects, b.objects), (a.relations, b.relations)):
        for f in fields(part_a):
            x, y = getattr(part_a, f.name), getattr(part_b, f.name)
            if isinstance(x, dict):
                assert list(x) == list(y), f.name  # the same keys in the same order
                for k in x:
                    np.testing.assert_array_equal(x[k], y[k], err_msg=f"{f.name}[{k}]")
                    assert x[k].dtype == y[k].dtype
            elif isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=f.name)
                assert x.dtype == y.dtype, f.name
            else:
                assert x == y, f.name
    np.testing.assert_array_equal(a.viewpoint.position, b.viewpoint.position)
    np.testing.assert_array_equal(a.viewpoint.direction, b.viewpoint.direction)


def test_graph_json_reads_back_exactly(data):
    folder = data / "synth_00000"
    built = build_folder_graph(folder, RelationConfig(), "first_frame")
    assert built.viewpoint is not None and built.num_edges() > 10
    built.save(folder / "graph.json")
    _same_graph(SceneGraph.from_json(json.loads((folder / "graph.json").read_text()), folder / "graph.json"), built)


def test_language_uses_current_graphs_and_rebuilds_stale_ones(data, monkeypatch):
    lines: list[str] = []
    fresh = language_dataset(data, progress=False, log=lines.append)
    assert fresh["graphs"] == {"no graph.json": 2}
    assert lines == ["scene graphs: 0 read from graph.json, 2 rebuilt (no graph.json: 2)"]
    rebuilt_text = (data / "language.jsonl").read_text()

    graph_dataset(data, progress=False)
    real_build = language_batch.build_folder_graph

    def no_build(*args, **kwargs):
        raise AssertionError("the graph was rebuilt although graph.json is current")

    monkeypatch.setattr(language_batch, "build_folder_graph", no_build)
    lines.clear()
    stored = language_dataset(data, progress=False, log=lines.append)
    assert stored["graphs"] == {"current": 2}
    assert lines == ["scene graphs: 2 read from graph.json, 0 rebuilt"]
    assert (data / "language.jsonl").read_text() == rebuilt_text  # the same sentences either way
    monkeypatch.setattr(language_batch, "build_folder_graph", real_build)

    # other settings than the stored graph's: rebuilt
    for kwargs in ({"viewpoint": "none"}, {"relation_config": RelationConfig(near=0.6)}):
        assert language_dataset(data, progress=False, log=lines.append, **kwargs)["graphs"] == {
            "other graph settings": 2}

    # an edited scene: its graph is stale, the other one is still read
    scene_json = data / "synth_00001" / "scene.json"
    doc = json.loads(scene_json.read_text())
    moved = next(o for o in doc["objects"] if o["label"] not in ("wall", "floor", "ceiling"))
    moved["box"]["center"][0] += 0.5
    scene_json.write_text(json.dumps(doc, indent=1))
    lines.clear()
    stats = language_dataset(data, progress=False, log=lines.append)
    assert stats["graphs"] == {"current": 1, "scene files changed": 1}
    assert lines == ["scene graphs: 1 read from graph.json, 1 rebuilt (scene files changed: 1)"]
    assert (data / "language.jsonl").read_text() != rebuilt_text
    graph, why = read_current_graph(data / "synth_00001", RelationConfig(), "first_frame")
    assert graph is None and why == "scene files changed"

    # an older format, one without a record of its inputs and an unreadable one are rebuilt
    path = data / "synth_00000" / "graph.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc | {"version": 1}))
    assert read_current_graph(path.parent, RelationConfig(), "first_frame") == (None, "older graph.json format")
    path.write_text(json.dumps(doc | {"built_from": None}))
    assert read_current_graph(path.parent, RelationConfig(), "first_frame") == (None, "no build record")
    path.write_text(json.dumps(doc | {"built_from": doc["built_from"] | {"scene3d": "0.0.1"}}))
    assert read_current_graph(path.parent, RelationConfig(), "first_frame") == (None, "other scene3d version")
    path.write_text(json.dumps(doc | {"tables": {}}))
    assert read_current_graph(path.parent, RelationConfig(), "first_frame") == (None, "unreadable graph.json")
    path.write_text("{not json")
    assert read_current_graph(path.parent, RelationConfig(), "first_frame") == (None, "unreadable graph.json")
    path.write_text(json.dumps(doc))
    assert read_current_graph(path.parent, RelationConfig(), "first_frame")[1] == "current"


def test_language_command_says_where_the_graphs_came_from(data, capsys):
    assert main(["graph", f"data={data}"]) == 0
    assert main(["language", f"data={data}"]) == 0
    assert "scene graphs: 2 read from graph.json, 0 rebuilt" in capsys.readouterr().out
