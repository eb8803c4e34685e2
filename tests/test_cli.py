"""The ``scene3d`` command as users run it (in-process for speed, one real subprocess)."""

import re
import subprocess
import sys

import pytest
import trimesh

from scene3d.cli import COMMANDS, main
from scene3d.config import options
from scene3d.io import load_scene


def test_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("import-scannet", "import-ply", "info", "demo", "generate", "graph", "language"):
        assert command in out
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_import_ply_then_info(tmp_path, capsys):
    trimesh.creation.box().export(tmp_path / "cube.ply")
    assert main(["import-ply", f"path={tmp_path / 'cube.ply'}", f"out={tmp_path / 'root'}"]) == 0
    assert load_scene(tmp_path / "root" / "cube").num_points == 8
    assert main(["info", f"scene={tmp_path / 'root' / 'cube'}"]) == 0
    assert "points: 8" in capsys.readouterr().out


def test_config_errors_are_clear(tmp_path, capsys):
    assert main(["info"]) == 2
    assert "missing required argument scene=" in capsys.readouterr().err
    assert main(["info", "scene=x", "bogus=1"]) == 2
    assert "unknown option bogus (scene3d info --help" in capsys.readouterr().err
    for arg in ("num_scene=3", "+num_scene=3"):                     # "+" does not get around it
        assert main(["generate", arg, f"out={tmp_path / 'g'}"]) == 2
        assert "unknown option num_scene; did you mean num_scenes?" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
    assert main(["generate", "num_scenes=abc", f"out={tmp_path / 'g'}"]) == 2
    assert "num_scenes='abc': expected an integer (default 20" in capsys.readouterr().err
    assert main(["generate", "+num_scenes=0", f"out={tmp_path / 'g'}"]) == 2    # an existing key: "+" is harmless
    assert "num_scenes must be >= 1" in capsys.readouterr().err
    assert main(["ground", "scene=x", "query=a", "top_k=true"]) == 2
    assert "top_k=True: expected an integer" in capsys.readouterr().err
    assert main(["import-scannet", f"scan={tmp_path}/nonexistent", f"out={tmp_path / 's'}"]) == 2
    assert f"{tmp_path}/nonexistent: scan folder not found" in capsys.readouterr().err
    assert main(["info", f"scene={tmp_path}/nope"]) == 2
    assert "scene folder not found" in capsys.readouterr().err


def test_demo_without_real_data(tmp_path, capsys, monkeypatch):
    import scene3d.commands.demo as demo

    monkeypatch.setattr(demo, "_find_data_root", lambda cfg: None)
    assert main(["demo", f"out={tmp_path}", "num_scenes=1", "train_steps=3", "dim=32", "layers=1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic data only" in out and "room types:" in out
    first, last = out.splitlines()[0], out.splitlines()[-1]
    assert first.startswith("demo: 1 synthetic scenes, 3 training steps") and " min" in first
    assert last.startswith("demo: stage times: generate ") and "train " in last and "total " in last
    assert out.count("    -> object ") == 5 and "score" in out
    assert (tmp_path / "grounding" / "checkpoints" / "step_00000003").is_dir()
    assert load_scene(tmp_path / "synthetic" / "synth_00000").num_points > 1000


@pytest.mark.real_data
def test_import_scannet_console_script(shared_data, tmp_path):
    scan = shared_data / "scannet" / "scenes" / "scene0000_00"
    run = subprocess.run(
        [sys.executable, "-m", "scene3d.cli", "import-scannet", f"scan={scan}", f"out={tmp_path}"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "points: 81,369" in run.stdout and "objects: 55 in" in run.stdout
    info = subprocess.run([sys.executable, "-m", "scene3d.cli", "info", f"scene={tmp_path / 'scene0000_00'}"],
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0 and "objects: 55 in" in info.stdout


def test_command_help_lists_its_arguments(capsys):
    for flag in ("--help", "-h", "help"):
        assert main(["ground", flag]) == 0
        out = capsys.readouterr().out
        assert "usage: scene3d ground" in out and "\n  scene  " in out and "required" in out
        assert re.search(r"\n  top_k +int = 5 +objects listed per query", out)
        assert re.search(r"\n  checkpoint +\= null +a grounding run", out)
    assert main(["info", "scene=x", "--help"]) == 0
    assert re.search(r"\n  scene +required", capsys.readouterr().out)
    assert main(["pretrain", "--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\n  loop.steps +int = 900 ", out) and re.search(r"\n  student.encoder_channels +list = ", out)
    assert out.index("  data ") < out.index("  split ")          # required options first


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_a_kind_and_a_meaning(command):
    """The configs are the commands' typed option lists: every key a kind and a comment."""
    head, opts = options(command)
    assert opts or command == "info"
    for o in opts:
        assert o.kind in {"int", "float", "bool", "str", "list", "required", "null"}, o
        assert len(o.meaning) > 8, f"{command}: option {o.key} has no meaning in its config"


def test_help_and_argument_errors_answer_before_heavy_imports():
    """In a fresh process: per-command help and a missing argument import neither torch nor
    transformers, and answer in well under the time of a model load (< 1 s asked; the bound
    here leaves room for a loaded CI machine)."""
    code = ("import sys, time; t = time.perf_counter(); from scene3d.cli import main; "
            "a = main(['ground', '--help']); b = main(['ground']); c = main(['view', 'port=0']); "
            "print('CODES', a, b, c, 'HEAVY', sorted(m for m in ('torch', 'transformers', 'viser') "
            "if m in sys.modules), 'SECONDS', time.perf_counter() - t)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    words = run.stdout.split("CODES")[1].split()
    assert words[:3] == ["0", "2", "2"] and words[3:5] == ["HEAVY", "[]"]
    assert "missing required argument scene=..." in run.stderr and "missing required argument data=..." in run.stderr
    assert float(words[-1]) < 3.0
