"""The ``scene3d`` command as users run it (in-process for speed, one real subprocess)."""

import subprocess
import sys

import pytest
import trimesh

from scene3d.cli import main
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
    assert "Could not override 'bogus'" in capsys.readouterr().err
    assert main(["info", f"scene={tmp_path}/nope"]) == 2
    assert "scene folder not found" in capsys.readouterr().err


def test_demo_without_real_data(tmp_path, capsys, monkeypatch):
    import scene3d.cli as cli

    monkeypatch.setattr(cli, "_find_data_root", lambda cfg: None)
    assert main(["demo", f"out={tmp_path}", "num_scenes=1", "train_steps=3", "dim=32", "layers=1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic data only" in out and "room types:" in out
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
