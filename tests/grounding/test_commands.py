import csv
import gzip
import json

import pytest

from scene3d.cli import main
from scene3d.io import list_scene_folders, load_scene, read_utterances_jsonl
from scene3d.language.batch import language_dataset
from scene3d.synth import SynthConfig, generate_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """4 synthetic scenes with language, and the same scenes and referrals written in the
    real formats: a GT object list (gzipped JSON) and a ReferIt3D CSV."""
    root = tmp_path_factory.mktemp("grounding")
    data = root / "data"
    generate_dataset(data, 4, seed=2, config=SynthConfig(num_points=500, min_object_points=2, num_frames=0),
                     progress=False)
    language_dataset(data, progress=False, viewpoint="none")
    scenes = [load_scene(f, frames=False, mesh=False) for f in list_scene_folders(data)]
    objects = {s.scene_id: [{"id": o.object_id, "label": o.label, "center_position": o.box.center.tolist(),
                             "size": o.box.size.tolist()} for o in s.objects] for s in scenes}
    with gzip.open(root / "objects.json.gz", "wt") as f:
        json.dump({"scenes": objects}, f)
    referrals = [u for u in read_utterances_jsonl(data / "language.jsonl") if u.kind == "referral"]
    with open(root / "referit.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scan_id", "target_id", "utterance", "instance_type", "dataset"])
        w.writerows([u.scene_id, u.target_id, u.text, u.target_label, "nr3d"] for u in referrals)
    return root, data, scenes


def test_train_then_ground(synth, tmp_path, capsys):
    _, data, scenes = synth
    run = tmp_path / "run"
    code = main(["train-grounding", f"data={data}", f"out={run}", "steps=4", "batch_size=8", "model.dim=32",
                 "model.layers=1", "model.heads=2", "checkpoint_every=2", "eval_every=2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "floor (class+random)" in out and "held out, generated" in out
    assert json.loads((run / "calibration.json").read_text())["class_match_threshold"] is not None
    scene = data / scenes[0].scene_id
    answer = tmp_path / "answer.json"
    assert main(["ground", f"checkpoint={run}", f"scene={scene}", "query=the chair near the table",
                 f"out={answer}"]) == 0
    assert "1. object" in capsys.readouterr().out
    result = json.loads(answer.read_text())
    assert result["query"] == "the chair near the table" and len(result["ranked"]) == 5
    assert isinstance(result["low_confidence"], bool) and -1.0 <= result["class_match"] <= 1.0
    step = sorted((run / "checkpoints").glob("step_*"))[0]
    assert main(["ground", f"checkpoint={step}", f"scene={scene}", "query=a lamp", "out=null"]) == 0
    assert main(["ground", f"checkpoint={tmp_path / 'none'}", f"scene={scene}", "query=x"]) == 2
    assert "not a grounding run" in capsys.readouterr().err


def test_train_on_real_format_with_held_out_scenes_then_eval(synth, tmp_path, capsys):
    root, _, scenes = synth
    run = tmp_path / "run"
    assert main(["train-grounding", "data=null", f"out={run}", f"real.language=[{root / 'referit.csv'}]",
                 f"real.objects={root / 'objects.json.gz'}", "real.held_out=0.5", "steps=3", "batch_size=8",
                 "model.dim=32", "model.layers=1", "model.heads=2", "checkpoint_every=3", "eval_every=3",
                 "source_weights.nr3d=2"]) == 0
    held = (run / "real_held_out.txt").read_text().split()
    assert len(held) == 2 and set(held) < {s.scene_id for s in scenes}
    assert "held out, nr3d" in capsys.readouterr().out
    metrics = tmp_path / "metrics.json"
    assert main(["eval-grounding", f"checkpoint={run}", f"utterances={root / 'referit.csv'}",
                 f"objects={root / 'objects.json.gz'}", f"scenes={run / 'real_held_out.txt'}", f"out={metrics}"]) == 0
    out = capsys.readouterr().out
    assert "referit3d protocol" in out and "floor (class+random)" in out
    record = json.loads(metrics.read_text())
    n = sum(1 for row in csv.DictReader(open(root / "referit.csv")) if row["scan_id"] in held)
    assert record["evaluated"] == n == record["referit3d"]["n"] and record["skipped"] == 0
    assert 0.0 <= record["referit3d"]["overall"] <= 1.0 and 0.0 < record["floor"]["referit3d"]["overall"] <= 1.0
    # nothing to train on / bad file
    assert main(["train-grounding", "data=null", f"out={tmp_path / 'x'}"]) == 2
    assert "nothing to train on" in capsys.readouterr().err
    # an augmentation share out of range is refused before any data loads
    assert main(["train-grounding", f"data={tmp_path / 'missing'}", f"out={tmp_path / 'x'}", "object_dropout=1.5"]) == 2
    assert "object_dropout must be in [0, 1), got 1.5" in capsys.readouterr().err
    assert main(["eval-grounding", f"checkpoint={run}", f"utterances={tmp_path / 'no.csv'}",
                 f"objects={root / 'objects.json.gz'}"]) == 2
    assert "not found" in capsys.readouterr().err


def test_generated_corpus_with_a_held_out_list_then_export(synth, tmp_path, capsys):
    """A generated JSONL corpus trains beside the real formats, a scene list holds scenes out,
    and export-grounding writes a model folder that answers like the run."""
    root, data, scenes = synth
    held = tmp_path / "held.txt"
    held.write_text(scenes[0].scene_id + "\n")
    run = tmp_path / "run"
    assert main(["train-grounding", "data=null", f"out={run}", f"real.language=[{data / 'language.jsonl'}]",
                 f"real.objects={root / 'objects.json.gz'}", f"real.held_out={held}", "steps=2", "batch_size=4",
                 "model.dim=32", "model.layers=1", "model.heads=2", "checkpoint_every=2", "eval_every=2", "buckets=2",
                 f"text_cache={tmp_path / 'cache'}"]) == 0
    assert (run / "real_held_out.txt").read_text().split() == [scenes[0].scene_id]
    assert "validation" in capsys.readouterr().out and any((tmp_path / "cache").glob("shard_*.safetensors"))
    model = tmp_path / "model"
    assert main(["export-grounding", f"checkpoint={run}", f"out={model}"]) == 0
    assert {p.name for p in model.iterdir()} == {"config.json", "model.safetensors", "calibration.json",
                                                 "vocabulary.json"}
    from scene3d.grounding import Grounder

    a = Grounder.from_checkpoint(run).ground(scenes[1], "the chair near the table")
    b = Grounder.from_checkpoint(model).ground(scenes[1], "the chair near the table")
    assert [(r.object_id, round(r.score, 6)) for r in a.ranked] == [(r.object_id, round(r.score, 6)) for r in b.ranked]
    ensemble = tmp_path / "ensemble"                        # two members with the same weights: the same answer
    assert main(["export-grounding", f"checkpoint=[{run},{model}]", f"out={ensemble}", "rotations=2"]) == 0
    assert json.loads((ensemble / "config.json").read_text())["members"] == 2
    grounder = Grounder.from_checkpoint(ensemble)
    assert grounder.rotations == 2 and Grounder.from_checkpoint(model).rotations == 4
    grounder.rotations = 4
    c = grounder.ground(scenes[1], "the chair near the table")
    assert [(r.object_id, round(r.score, 5)) for r in c.ranked] == [(r.object_id, round(r.score, 5)) for r in a.ranked]
    assert main(["export-grounding", f"checkpoint={tmp_path / 'nothing'}", f"out={tmp_path / 'm2'}"]) == 2
    assert main(["export-grounding", f"checkpoint={run}", f"out={tmp_path / 'm3'}", "rotations=0"]) == 2
    assert "rotations must be >= 1" in capsys.readouterr().err and not (tmp_path / "m3").exists()


def test_ground_many_queries_with_one_model_load(synth, tmp_path, capsys, monkeypatch):
    import io
    import sys

    from scene3d.grounding import Grounder

    _, data, scenes = synth
    scene = data / scenes[0].scene_id
    loads = []
    load = Grounder.from_checkpoint
    monkeypatch.setattr(Grounder, "from_checkpoint", classmethod(lambda cls, path=None, **kw: (loads.append(path),
                                                                                               load(path, **kw))[1]))
    int8 = []
    monkeypatch.setattr(Grounder, "__init__", lambda self, *a, init=Grounder.__init__, **kw: (int8.append(kw.get("int8")),
                                                                                            init(self, *a, **kw))[1])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("the lamp\n\n  the bed [left], by the window \n")
    assert main(["ground", f"scene={scene}", "query=the chair, left of the table", "query=a 'small' table",
                 "queries=q.txt", "out=answers.json", "top_k=2"]) == 0
    out, err = capsys.readouterr()
    queries = ["the chair, left of the table", "a 'small' table", "the lamp", "the bed [left], by the window"]
    assert [r["query"] for r in json.loads((tmp_path / "answers.json").read_text())] == queries
    assert out.count("query: ") == 4 and len(loads) == 1
    assert "4 queries" in err and "ms median each" in err and "loaded in" in err
    assert main(["ground", f"scene={scene}", "query=the lamp"]) == 0   # no out=: prints, writes nothing
    assert "query: 'the lamp'" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.json", "q.txt"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("the lamp\nthe table\n"))   # queries=-: one answer a line
    assert main(["ground", f"scene={scene}", "queries=-", "int8=false"]) == 0
    assert capsys.readouterr().out.count("query: ") == 2 and int8 == [True, True, False]   # the packaged: int8
    (tmp_path / "blank.txt").write_text("\n  \n")
    assert main(["ground", f"scene={scene}", "queries=blank.txt", "out=x.json"]) == 2
    assert "queries=blank.txt: no sentence in it" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    assert main(["ground", f"scene={scene}"]) == 2
    assert 'missing required argument query="..."' in capsys.readouterr().err
    assert main(["ground", f"scene={scene}", "queries=nope.txt"]) == 2
    assert "queries=nope.txt: file not found" in capsys.readouterr().err
    assert len(loads) == 4   # one per call that got to grounding; the argument errors came before any load
    assert main(["ground", f"scene={scene}", "query=the lamp", "int8=yes"]) == 2
    assert "int8 must be true or false" in capsys.readouterr().err
