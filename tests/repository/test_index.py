import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from scene3d.cli import main
from scene3d.repository import SceneIndex, build_faiss
from scene3d.structures import Box, Scene, SceneMeta, SceneObject
from scene3d.synth import SynthConfig, generate_dataset


def _room(scene_id: str, room: str, labels: list[str]) -> Scene:
    objs = [SceneObject(i + 1, label, Box(np.array([i, 0.0, 0.5]), np.ones(3))) for i, label in enumerate(labels)]
    return Scene(scene_id, objects=objs, meta=SceneMeta(room_type=room))


@pytest.fixture(scope="module")
def rooms():
    return [_room("bed1", "bedroom", ["bed", "lamp", "lamp", "nightstand", "wardrobe"]),
            _room("kit1", "kitchen", ["refrigerator", "stove", "sink", "kitchen counter"]),
            _room("off1", "office", ["desk", "office chair", "monitor", "bookshelf"]),
            _room("bath1", "bathroom", ["toilet", "bathtub", "sink", "mirror"])]


def test_add_search_update_delete(rooms, tmp_path):
    index = SceneIndex(tmp_path / "idx")
    assert index.search_text("anything") == []
    assert [index.add(r) for r in rooms] == [True] * 4 and len(index) == 4
    assert index.add(rooms[0]) is False                       # unchanged: nothing written twice
    assert index.search_text("a bedroom with two lamps beside the bed", top_k=1)[0].scene_id == "bed1"
    hit = index.search_text("a computer monitor on a desk", top_k=1)[0]
    assert hit.scene_id == "off1" and 3 in hit.object_ids      # object 3 is the monitor
    assert index.search_text("a toilet and a bathtub", top_k=2)[0].scene_id == "bath1"
    with pytest.raises(ValueError, match="empty"):
        index.search_text("  ")
    # update: the office becomes a kitchen-like room
    index.add(_room("off1", "kitchen", ["stove", "refrigerator", "microwave"]))
    assert len(index) == 4
    assert sqlite3.connect(tmp_path / "idx" / "index.sqlite").execute(
        "SELECT COUNT(*) FROM objects WHERE scene_id = 'off1'").fetchone()[0] == 3
    assert index.delete("bath1") and not index.delete("bath1") and len(index) == 3
    assert all(h.scene_id != "bath1" for h in index.search_text("a toilet", top_k=3))
    index.close()
    again = SceneIndex(tmp_path / "idx")                       # reopened: same content, same FAISS stamp
    assert again.scene_ids() == ["bed1", "kit1", "off1"]
    assert again.search_text("a bedroom with two lamps", top_k=1)[0].scene_id == "bed1"


def test_ivf_agrees_with_exact_search():
    # clustered like scene descriptors: 60 kinds of room, 50 variants each
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 32))
    x = (centres[rng.integers(60, size=3000)] + 0.3 * rng.normal(size=(3000, 32))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:50] + 0.05 * rng.normal(size=(50, 32)).astype(np.float32)
    exact, approx = build_faiss(x, approximate=False), build_faiss(x, approximate=True)
    _, a = exact.search(q, 10)
    _, b = approx.search(q, 10)
    np.testing.assert_array_equal(a, np.argsort(-(q @ x.T), axis=1)[:, :10])   # flat = brute force
    assert type(approx).__name__ == "IndexIVFFlat"
    assert np.mean([len(set(r) & set(s)) / 10 for r, s in zip(a, b)]) > 0.95


@pytest.mark.slow
def test_killed_index_run_loses_and_duplicates_nothing(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, 12, seed=5, config=SynthConfig(num_points=300, min_object_points=1, num_frames=0),
                     progress=False)
    index = tmp_path / "idx"
    cmd = [sys.executable, "-m", "scene3d.cli", "index", f"data={data}", f"index={index}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    db = index / "index.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:   # kill -9 once some scenes are in
        time.sleep(0.2)
        try:
            n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM scenes").fetchone()[0] if db.is_file() else 0
        except sqlite3.OperationalError:
            continue
        if n >= 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM scenes").fetchone()[0]
    assert 3 <= before < 12, before
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{12 - before} scenes added or updated, {before} unchanged, 12 in" in done.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM scenes").fetchone()[0] == 12
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT scene_id || '/' || object_id) FROM objects").fetchone()[0] \
        == con.execute("SELECT COUNT(DISTINCT scene_id || '/' || object_id) FROM objects").fetchone()[0]


def test_search_command(rooms, tmp_path, capsys):
    index = SceneIndex(tmp_path / "idx")
    for r in rooms:
        index.add(r)
    index.close()
    out = tmp_path / "hits.json"
    assert main(["search", f"index={tmp_path / 'idx'}", "query=a kitchen with a stove", "top_k=2", f"out={out}"]) == 0
    assert "1. kit1" in capsys.readouterr().out
    assert json.loads(out.read_text())[0]["scene_id"] == "kit1"
    assert main(["search", f"index={tmp_path / 'nothing'}", "query=x"]) == 2
    assert "not a scene index" in capsys.readouterr().err
