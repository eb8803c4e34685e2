from scene3d.cli import main
from scene3d.graph import load_graph_json
from scene3d.io import read_utterances_jsonl
from scene3d.language.batch import language_dataset
from scene3d.synth import SynthConfig, generate_dataset


def test_graph_and_language_commands(tmp_path, capsys):
    generate_dataset(tmp_path, 3, seed=1, name="synth", config=SynthConfig(num_points=2000, num_frames=1, width=32, height=24),
                     progress=False)
    assert main(["graph", f"data={tmp_path}"]) == 0
    g = load_graph_json(tmp_path / "synth_00000" / "graph.json")
    assert g.number_of_nodes() > 5 and g.number_of_edges() > 10
    assert main(["language", f"data={tmp_path}", "workers=2"]) == 0
    out = capsys.readouterr().out
    assert "referrals per scene" in out and "referrals by relation" in out
    utts = read_utterances_jsonl(tmp_path / "language.jsonl")
    assert {u.scene_id for u in utts} == {"synth_00000", "synth_00001", "synth_00002"}
    # the same seed gives the same sentences whatever the number of workers
    language_dataset(tmp_path, workers=1, progress=False)
    assert read_utterances_jsonl(tmp_path / "language.jsonl") == utts
    assert main(["graph", f"data={tmp_path / 'nowhere'}"]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
