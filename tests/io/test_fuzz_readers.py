"""Property-based fuzzing: whatever bytes the readers get, they return a valid
result or raise SceneFormatError naming the file, never anything else."""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scene3d.errors import SceneFormatError
from scene3d.io import load_scene, read_referit3d_csv, read_scanrefer_json, save_scene
from scene3d.io.ply import read_ply
from tests.tiny_scene import make_tiny_scene

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def saved_scene():
    root = Path(tempfile.mkdtemp())
    folder = save_scene(make_tiny_scene(points_per_m2=5.0), root)
    yield folder
    shutil.rmtree(root)


def _load_expecting_format_error(folder: Path) -> None:
    """The mutated folder either loads as a valid Scene or raises SceneFormatError naming a file in it."""
    try:
        scene = load_scene(folder)
    except SceneFormatError as exc:
        # a change in one file may surface as an inconsistency with its sibling
        assert exc.path == folder or folder in exc.path.parents, f"error names {exc.path}"
        assert str(exc.path) in str(exc)
    else:  # a mutation that kept the file well formed (a colour byte, say): still a consistent Scene
        assert scene.scene_id == folder.name
        assert len(scene.points) == len(scene.colors) == len(scene.instance_ids)
        assert np.isfinite(scene.points).all()


@SETTINGS
@given(data=st.data())
def test_mutated_points_ply(saved_scene, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fz") / saved_scene.name
    shutil.copytree(saved_scene, folder)
    raw = bytearray((folder / "points.ply").read_bytes())
    kind = data.draw(st.sampled_from(["truncate", "flip", "header"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
    else:
        end = raw.index(b"end_header")
        pos = data.draw(st.integers(0, end))
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=12))
    (folder / "points.ply").write_bytes(bytes(raw))
    _load_expecting_format_error(folder)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@SETTINGS
@given(data=st.data())
def test_mutated_scene_json(saved_scene, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fz") / saved_scene.name
    shutil.copytree(saved_scene, folder)
    obj = json.loads((folder / "scene.json").read_text())
    paths = [p for p in _paths(obj) if p]
    path = data.draw(st.sampled_from(paths))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(_json_values)
    else:
        del parent[path[-1]]
    (folder / "scene.json").write_text(json.dumps(obj))
    _load_expecting_format_error(folder)


@SETTINGS
@given(body=st.binary(max_size=300), header=st.sampled_from([
    b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nend_header\n",
    b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty uchar red\nend_header\n",
    b"ply\nformat binary_little_endian 1.0\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n",
    b"ply\nformat binary_big_endian 1.0\nelement vertex 99999999999\nproperty double x\nend_header\n",
    b"",
]))
def test_read_ply_random_bodies(tmp_path_factory, body, header):
    path = tmp_path_factory.mktemp("ply") / "x.ply"
    path.write_bytes(header + body)
    try:
        read_ply(path)
    except SceneFormatError as exc:
        assert exc.path == path


@SETTINGS
@given(text=st.text(max_size=400))
def test_language_readers_never_crash(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("lang")
    csv_path, json_path = folder / "x.csv", folder / "x.json"
    csv_path.write_text("scan_id,target_id,utterance,distractor_ids,anchor_ids\n" + text)
    json_path.write_text(text)
    read_referit3d_csv(csv_path)  # malformed rows become reported problems
    try:
        read_scanrefer_json(json_path)
    except SceneFormatError as exc:
        assert exc.path == json_path
