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
from scene3d.repository import (
    AddOutcome,
    IndexFormatError,
    SceneIndex,
    SceneKeyError,
    build_faiss,
    dataset_collection,
)
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
    assert [index.add(r) for r in rooms] == [AddOutcome.ADDED] * 4 and len(index) == 4
    assert index.add(rooms[0]) is AddOutcome.UNCHANGED         # nothing written twice
    assert index.search_text("a bedroom with two lamps beside the bed", top_k=1)[0].scene_id == "bed1"
    hit = index.search_text("a computer monitor on a desk", top_k=1)[0]
    assert hit.scene_id == "off1" and 3 in hit.object_ids      # object 3 is the monitor
    assert index.search_text("a toilet and a bathtub", top_k=2)[0].scene_id == "bath1"
    with pytest.raises(ValueError, match="empty"):
        index.search_text("  ")
    # update: the office becomes a kitchen-like room
    assert index.add(_room("off1", "kitchen", ["stove", "refrigerator", "microwave"])) is AddOutcome.UPDATED
    assert len(index) == 4
    assert sqlite3.connect(tmp_path / "idx" / "index.sqlite").execute(
        "SELECT COUNT(*) FROM objects WHERE key = 'off1'").fetchone()[0] == 3
    assert index.delete("bath1") and not index.delete("bath1") and len(index) == 3
    assert all(h.scene_id != "bath1" for h in index.search_text("a toilet", top_k=3))
    index.close()
    again = SceneIndex(tmp_path / "idx")                       # reopened: same content, same FAISS stamp
    assert again.keys() == ["bed1", "kit1", "off1"]
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
    assert f"index: {12 - before} added, 0 updated, 0 moved, {before} unchanged; 12 scenes in" in done.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM scenes").fetchone()[0] == 12
    assert con.execute("SELECT COUNT(*) FROM objects").fetchone()[0] \
        == con.execute("SELECT COUNT(DISTINCT key || '/' || object_id) FROM objects").fetchone()[0]


def test_search_command(rooms, tmp_path, capsys):
    index = SceneIndex(tmp_path / "idx")
    for r in rooms:
        index.add(r)
    index.close()
    out = tmp_path / "hits.json"
    assert main(["search", f"index={tmp_path / 'idx'}", "query=a kitchen with a stove", "top_k=2", f"out={out}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # rank, key, room type, score and the matched objects' labels; a one-line caption; the folder
    assert lines[1].startswith("  1. kit1  [kitchen]  score ") and "matched stove #2" in lines[1]
    assert lines[2].strip() == "a kitchen with one refrigerator, one stove, one sink and one kitchen counter"
    assert lines[3].strip() == "(no path: indexed without a folder)"
    hit = json.loads(out.read_text())[0]
    assert hit["scene_id"] == "kit1" and hit["room_type"] == "kitchen" and hit["labels"][0] == "stove"
    assert main(["search", f"index={tmp_path / 'nothing'}", "query=x"]) == 2
    assert "not a scene index" in capsys.readouterr().err


def _folder(root, scene: Scene):
    """A stand-in scene folder (the index only checks that ``scene.json`` is there)."""
    folder = root / scene.scene_id
    folder.mkdir(parents=True)
    (folder / "scene.json").write_text("{}")
    return folder


def test_keys_paths_moves_and_collisions(rooms, tmp_path):
    index = SceneIndex(tmp_path / "idx")
    bed = rooms[0]
    first = _folder(tmp_path / "alice", bed)
    assert index.add(bed, collection="rooms", path=first) is AddOutcome.ADDED
    assert index.add(bed, collection="rooms", path=first) is AddOutcome.UNCHANGED
    assert index.keys() == ["rooms/bed1"]
    # the folder moves: same key, new path, nothing embedded twice
    moved = tmp_path / "archive" / "bed1"
    moved.parent.mkdir()
    first.rename(moved)
    assert index.add(bed, collection="rooms", path=moved) is AddOutcome.MOVED
    assert len(index) == 1 and index.resolve("rooms/bed1").path == str(moved.resolve())
    # another user's different room_01-style scene under the same key, while the indexed folder exists
    other = _room("bed1", "office", ["desk", "monitor", "office chair"])
    elsewhere = _folder(tmp_path / "bob", other)
    with pytest.raises(SceneKeyError, match=r"already holds a different scene.*collection=<name>"):
        index.add(other, collection="rooms", path=elsewhere)
    rec = index.resolve("bed1")
    assert len(index) == 1 and rec.room_type == "bedroom" and rec.path == str(moved.resolve())
    # namespaced: both kept; the bare id is then ambiguous, the keys are not
    assert index.add(other, collection="bob", path=elsewhere) is AddOutcome.ADDED
    assert index.keys() == ["bob/bed1", "rooms/bed1"]
    with pytest.raises(SceneKeyError, match="2 indexed scenes have the id 'bed1'.*bob/bed1, rooms/bed1"):
        index.resolve("bed1")
    with pytest.raises(SceneKeyError, match="no scene with the key or id 'nope'"):
        index.resolve("nope")
    # an edit in place, an explicit replacement, and a moved-and-edited scene (old folder gone) update the key
    edited = _room("bed1", "bedroom", ["bed", "lamp", "nightstand"])
    assert index.add(edited, collection="rooms", path=moved) is AddOutcome.UPDATED
    assert index.add(other, collection="rooms", path=elsewhere, replace=True) is AddOutcome.UPDATED
    assert index.resolve("rooms/bed1").room_type == "office"
    (elsewhere / "scene.json").unlink()
    assert index.add(bed, collection="rooms", path=moved) is AddOutcome.UPDATED
    hit = index.search_text("a bedroom with two lamps", top_k=1)[0]
    assert (hit.key, hit.scene_id, hit.room_type, hit.path) == ("rooms/bed1", "bed1", "bedroom", str(moved.resolve()))
    assert "lamp" in hit.labels and hit.caption == "a bedroom with two lamps, one bed, one nightstand and one wardrobe"
    with pytest.raises(SceneKeyError, match="hold no '/'"):
        index.add(bed, collection="a/b")


def test_an_index_of_the_old_schema_is_refused(tmp_path):
    (tmp_path / "old").mkdir()
    con = sqlite3.connect(tmp_path / "old" / "index.sqlite")
    con.execute("CREATE TABLE scenes (scene_id TEXT PRIMARY KEY, hash TEXT, embedding BLOB, meta TEXT)")
    con.commit()
    con.close()
    with pytest.raises(IndexFormatError, match="older scene3d.*rebuild"):
        SceneIndex(tmp_path / "old")
    # schema 2 stored landmarks as float32 + uint8: refused when it has any, upgraded when it has none
    for name, landmarks in (("text_only", False), ("with_images", True)):
        SceneIndex(tmp_path / name).close()
        con = sqlite3.connect(tmp_path / name / "index.sqlite")
        con.execute("UPDATE info SET value = '2' WHERE key = 'schema'")
        if landmarks:
            con.execute("INSERT INTO landmarks VALUES ('k', ?, ?)", (bytes(12), bytes(128)))
        con.commit()
        con.close()
    assert SceneIndex(tmp_path / "text_only").get_info("schema") == "3"
    with pytest.raises(IndexFormatError, match="schema 2.*images=true"):
        SceneIndex(tmp_path / "with_images")


def _index_cmd(data, index, *extra):
    return [sys.executable, "-m", "scene3d.cli", "index", f"data={data}", f"index={index}", *extra]


@pytest.mark.slow
def test_two_generated_folders_indexed_at_once_keep_all_scenes(tmp_path):
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    for seed in (0, 1):
        generate_dataset(tmp_path / f"data{seed}", 6, seed=seed, config=cfg, progress=False)
    assert dataset_collection(tmp_path / "data1") == "synth_s1"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    index = tmp_path / "idx"
    procs = [subprocess.Popen(_index_cmd(tmp_path / f"data{seed}", index), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for seed in (0, 1)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert all("6 added" in out for out, _ in outs), outs
    con = sqlite3.connect(index / "index.sqlite")
    keys = [r[0] for r in con.execute("SELECT key FROM scenes ORDER BY key")]
    assert len(keys) == 12 and keys[0] == "synth/synth_00000" and keys[-1] == "synth_s1/synth_s1_00005"
    assert con.execute("SELECT COUNT(DISTINCT path) FROM scenes").fetchone()[0] == 12
    assert con.execute("SELECT COUNT(DISTINCT key) FROM objects").fetchone()[0] == 12
    searched = SceneIndex(index)
    assert len(searched.faiss_index()[1]) == 12  # the cached FAISS index matches the database


def test_same_ids_in_two_folders_are_refused_or_namespaced(tmp_path, capsys):
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    for seed in (0, 1):  # two datasets that both call their scenes synth_0000k (as before ids carried the seed)
        generate_dataset(tmp_path / f"data{seed}", 3, seed=seed, config=cfg, progress=False, name="synth")
    index = tmp_path / "idx"
    assert main(["index", f"data={tmp_path / 'data0'}", f"index={index}"]) == 0
    assert main(["index", f"data={tmp_path / 'data1'}", f"index={index}"]) == 2
    assert "key 'synth/synth_00000' already holds a different scene" in capsys.readouterr().err
    assert main(["index", f"data={tmp_path / 'data1'}", f"index={index}", "collection=second"]) == 0
    assert "3 added" in capsys.readouterr().out
    assert len(SceneIndex(index)) == 6
    # the folder moves: re-indexing updates the paths and adds nothing
    (tmp_path / "data0").rename(tmp_path / "moved")
    assert main(["index", f"data={tmp_path / 'moved'}", f"index={index}"]) == 0
    assert "0 added, 0 updated, 3 moved, 0 unchanged; 6 scenes" in capsys.readouterr().out
    assert SceneIndex(index).resolve("synth/synth_00002").path == str((tmp_path / "moved" / "synth_00002").resolve())


def test_view_opens_a_hit_by_key(tmp_path, monkeypatch, capsys):
    from scene3d_viewer import Viewer

    from tests.viewer.tabs import open_tab

    data = tmp_path / "elsewhere"
    generate_dataset(data, 2, seed=4, config=SynthConfig(num_points=2000, num_frames=0), progress=False)
    index = tmp_path / "idx"
    assert main(["index", f"data={data}", f"index={index}"]) == 0
    served = []
    monkeypatch.setattr(Viewer, "serve_forever", lambda self: (served.append(self), self.close()))
    assert main(["view", f"index={index}", "scene=synth_s4/synth_s4_00001", "port=0",
                 f"checkpoint={tmp_path / 'none'}"]) == 0
    assert served[0].first_scene == "synth_s4_00001" and f"scenes of {data.resolve()}" in capsys.readouterr().out
    (data / "synth_s4_00000").rename(tmp_path / "gone")
    assert main(["view", f"index={index}", "scene=synth_s4_00000", "port=0"]) == 2
    assert "holds no scene now: re-index its folder" in capsys.readouterr().err
    assert main(["view", "port=0"]) == 2
    assert "missing required argument data=" in capsys.readouterr().err
    # the viewer of another folder opens the index's hits from where they were indexed
    here = tmp_path / "here"
    generate_dataset(here, 1, seed=5, config=SynthConfig(num_points=2000, num_frames=0), progress=False)
    server = Viewer(here, port=0, out=tmp_path / "out", search=SceneIndex(index).search_text)
    try:
        with open_tab(server) as viewer:
            hits = viewer.search_repository("a room")
            assert sorted(h.key for h in hits) == ["synth_s4/synth_s4_00000", "synth_s4/synth_s4_00001"]
            assert "synth_s4/synth_s4_00000 | " in viewer._hits.content  # its folder moved away: listed, not openable
            assert viewer._hit_dd.options == ("synth_s4/synth_s4_00001",)
            viewer._open_hit()
            assert viewer.state.scene_id == "synth_s4/synth_s4_00001" and viewer._scene_dd.value == viewer.state.scene_id
    finally:
        server.close()


def test_counts_in_the_query_pick_the_room(tmp_path):
    index = SceneIndex(tmp_path / "idx")
    for sid, lamps in (("two", 2), ("three", 3), ("one", 1)):
        index.add(_room(sid, "bedroom", ["bed", "wardrobe", *["lamp"] * lamps]))
    for sid in ("one", "two", "three"):
        assert index.search_text(f"a bedroom with {sid} lamps", top_k=1)[0].key == sid
        # without the query facts the embedding alone does not tell the counts apart
    assert {index.search_text(f"a bedroom with {sid} lamps", top_k=1, fact_weight=0)[0].key
            for sid in ("one", "two", "three")} != {"one", "two", "three"}


def test_fact_index_finds_the_room_the_embedding_shortlist_misses(tmp_path):
    index = SceneIndex(tmp_path / "idx")
    index.add(_room("target", "bedroom", ["bed", "wardrobe", "lamp", "lamp"]))
    query = "a bedroom with two lamps"
    q = index.embedder.embed_texts([query])
    # 30 descriptor-only rooms that sit closer to the query than the target (cosine 1) but have no lamps
    index.add_descriptors([f"copy{i:02d}" for i in range(30)], np.repeat(q, 30, axis=0),
                          metas=[{"room_type": "bedroom", "facts": {"counts": {"bed": 1, "wardrobe": 1}}}] * 30)
    assert "target" not in [k for k, _ in index._shortlist(q, 10)[0]]
    assert "target" not in [h.key for h in index.search_text(query, top_k=5, shortlist=10, fact_shortlist=0)]
    assert index.search_text(query, top_k=1, shortlist=10, fact_shortlist=10)[0].key == "target"
    postings = index.fact_index()
    assert set(postings) >= {"room:bedroom", "has:lamp", "n:lamp=2", "has:bed"}
    _, keys = index.faiss_index()
    assert [keys[r] for r in postings["n:lamp=2"]] == ["target"] and len(postings["has:bed"]) == 31
    # derived from the database: a new scene is in it, and a reopened index reads the cached file
    index.add(_room("other", "bedroom", ["bed", "lamp", "lamp", "desk"]))
    assert sorted(index.faiss_index()[1][r] for r in index.fact_index()["n:lamp=2"]) == ["other", "target"]
    again = SceneIndex(tmp_path / "idx")
    assert {t: r.tolist() for t, r in again.fact_index().items()} == \
        {t: r.tolist() for t, r in index.fact_index().items()}
