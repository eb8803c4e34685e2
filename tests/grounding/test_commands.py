import json

from scene3d.cli import main
from scene3d.language.batch import language_dataset
from scene3d.synth import SynthConfig, generate_dataset


def test_train_then_ground(tmp_path, capsys):
    data = tmp_path / "data"
    generate_dataset(data, 3, seed=2, config=SynthConfig(num_points=500, min_object_points=2, num_frames=0),
                     progress=False)
    language_dataset(data, progress=False, viewpoint="none")
    run = tmp_path / "run"
    code = main(["train-grounding", f"data={data}", f"out={run}", "steps=4", "batch_size=8", "dim=32",
                 "layers=1", "heads=2", "checkpoint_every=2", "eval_every=2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "floor (class+random)" in out and "model" in out
    scene = sorted(p for p in data.iterdir() if (p / "scene.json").is_file())[0]
    assert main(["ground", f"run={run}", f"scene={scene}", "query=the chair near the table", "json=true"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["query"] == "the chair near the table" and len(result["ranked"]) == 5
    assert main(["ground", f"run={tmp_path / 'none'}", f"scene={scene}", "query=x"]) == 2
    assert "not a grounding run" in capsys.readouterr().err
