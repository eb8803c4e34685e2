import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scene3d.errors import SceneFormatError
from scene3d.io import read_utterances_jsonl
from scene3d.language.corpus import build_corpus

REPO = Path(__file__).resolve().parents[2]


def _objects(path: Path) -> Path:
    """Three tiny object-list scenes in the objects_train_scenes schema."""
    def o(i, label, c, s, rgb=(120, 80, 45, 255)):
        return {"id": i, "label": label, "center_position": c, "size": s, "avg_rgba": list(rgb)}
    room = [o(0, "floor", [2, 2, -0.01], [4, 4, 0.02]), o(1, "chair", [1, 2, 0.45], [0.5, 0.5, 0.9]),
            o(2, "table", [2, 2, 0.4], [1, 0.8, 0.8]), o(3, "chair", [3, 2, 0.45], [0.5, 0.5, 0.9], (60, 80, 160, 255)),
            o(4, "books", [2.1, 2.1, 0.85], [0.3, 0.2, 0.1]), o(5, "trash can", [3.6, 3.6, 0.2], [0.3, 0.3, 0.4])]
    with gzip.open(path, "wt") as f:
        json.dump({"scenes": {"sceneA": room, "sceneB": room[:4], "sceneC": room}}, f)
    return path


def test_build_corpus_writes_language_scenes_and_stats(tmp_path):
    objects = _objects(tmp_path / "objects.json.gz")
    (tmp_path / "held_out.txt").write_text("sceneB\n# a comment\n\n")
    stats = build_corpus(objects, tmp_path / "out", tmp_path / "held_out.txt", seed=0, progress=False, log=lambda _: None)
    utts = read_utterances_jsonl(tmp_path / "out" / "language.jsonl")
    assert (tmp_path / "out" / "scenes.txt").read_text() == "sceneA\nsceneC\n"
    assert {u.scene_id for u in utts} == {"sceneA", "sceneC"} and {u.source for u in utts} == {"generated_real"}
    on_disk = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert on_disk["referrals"] == stats["referrals"] == sum(u.kind == "referral" for u in utts) > 0
    assert on_disk["scene_captions"] == 2 and on_disk["inputs"]["excluded_scenes"] == 1
    # the same scene gives the same sentences in any corpus (seed x scene id), with 2 workers too
    build_corpus(objects, tmp_path / "out2", None, workers=2, seed=0, progress=False, log=lambda _: None)
    again = read_utterances_jsonl(tmp_path / "out2" / "language.jsonl")
    assert [u for u in again if u.scene_id == "sceneA"] == [u for u in utts if u.scene_id == "sceneA"]


def test_build_corpus_errors_name_the_file(tmp_path):
    with pytest.raises(SceneFormatError, match="nothing.json.gz: file not found"):
        build_corpus(tmp_path / "nothing.json.gz", tmp_path / "out", progress=False)
    objects = _objects(tmp_path / "objects.json.gz")
    with pytest.raises(SceneFormatError, match="held.txt: scene list not found"):
        build_corpus(objects, tmp_path / "out", tmp_path / "held.txt", progress=False)
    assert not (tmp_path / "out").exists()


def test_data_tools_script(tmp_path):
    objects = _objects(tmp_path / "objects.json.gz")
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(REPO / "data_tools" / "build_language_corpus.py"), "--objects", str(objects),
                          "--out", str(tmp_path / "c"), "--no-progress"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "3 scenes:" in run.stdout and (tmp_path / "c" / "language.jsonl").is_file()
    run = subprocess.run([sys.executable, str(REPO / "data_tools" / "build_language_corpus.py"), "--objects",
                          str(tmp_path / "missing.json"), "--out", str(tmp_path / "d")], capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "missing.json: file not found" in run.stderr
