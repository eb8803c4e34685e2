"""The data_tools drivers: every one answers --help, and the bulk ones convert real sample data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from scene3d.io import load_scene, read_utterances_jsonl

REPO = Path(__file__).resolve().parents[1]
DRIVERS = sorted(p.stem for p in (REPO / "data_tools").glob("*.py") if not p.name.startswith("_"))


def _driver(name: str):
    """Import data_tools/<name>.py as a module (its folder on sys.path, as when run as a script)."""
    sys.path.insert(0, str(REPO / "data_tools"))
    try:
        spec = importlib.util.spec_from_file_location(f"data_tools_{name}", REPO / "data_tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "data_tools"))


def test_the_drivers_are_the_documented_ones():
    readme = (REPO / "data_tools" / "README.md").read_text()
    assert len(DRIVERS) >= 6 and all(f"`{name}.py`" in readme for name in DRIVERS)


@pytest.mark.parametrize("name", DRIVERS)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        _driver(name).main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--" in out


def test_bad_input_is_one_line(tmp_path, capsys):
    assert _driver("object_lists_to_layouts").main(["--objects", str(tmp_path / "none.json.gz"), "--out",
                                                    str(tmp_path / "o"), "--no-progress"]) == 2
    assert _driver("convert_referring").main([str(tmp_path / "none.csv"), "--out", str(tmp_path / "l.jsonl")]) == 2
    assert _driver("import_scannet_scans").main(["--scans", str(tmp_path / "none"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "none.json.gz" in err[0] and "none.csv" in err[1] and "none" in err[2]


@pytest.mark.real_data
def test_object_lists_to_layouts(shared_data, tmp_path, capsys):
    (tmp_path / "list.txt").write_text("scene0000_00\nscene9999_99\n")
    code = _driver("object_lists_to_layouts").main([
        "--objects", str(shared_data / "scannet" / "meta" / "objects_train_scenes.json.gz"),
        "--out", str(tmp_path / "layouts"), "--list", str(tmp_path / "list.txt"), "--no-progress"])
    out = capsys.readouterr()
    assert code == 2 and "error: scene9999_99: not in" in out.err  # the listed scene that is not there
    scene = load_scene(tmp_path / "layouts" / "scene0000_00")
    assert scene.num_points == 0 and len(scene.objects) > 50 and "wrote 1 layouts" in out.out


@pytest.mark.real_data
def test_convert_referring(shared_data, tmp_path, capsys):
    lang = shared_data / "language"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"scene_id": "scene0000_00", "object_id": "x", "description": "the chair"}]))
    code = _driver("convert_referring").main([
        str(lang / "nr3d_train_sampled1000.csv"), str(lang / "ScanRefer_filtered_train_sampled1000.json"), str(bad),
        "--out", str(tmp_path / "language.jsonl")])
    out = capsys.readouterr().out
    assert code == 0 and "bad.json: 0 referrals, 1 unreadable rows" in out
    utts = read_utterances_jsonl(tmp_path / "language.jsonl")
    assert len(utts) == 2000 and {u.source for u in utts} == {"nr3d", "scanrefer"}


@pytest.mark.real_data
def test_import_scannet_scans(shared_data, tmp_path, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "scene0000_00").symlink_to(shared_data / "scannet" / "scenes" / "scene0000_00")
    broken = scans / "scene0001_00"
    broken.mkdir()
    (broken / "scene0001_00_vh_clean_2.ply").write_text("not a ply")
    args = ["--scans", str(scans), "--out", str(tmp_path / "out"), "--no-frames", "--no-progress"]
    assert _driver("import_scannet_scans").main(args) == 2  # one scan of two failed
    out = capsys.readouterr()
    assert out.err.startswith("error: ") and "scene0001_00" in out.err and len(out.err.strip().splitlines()) == 1
    assert "imported 1 of 2 scans" in out.out
    assert len(load_scene(tmp_path / "out" / "scene0000_00").objects) == 55
    (tmp_path / "list.txt").write_text("scene0000_00\n")
    assert _driver("import_scannet_scans").main(args + ["--skip-existing", "--list", str(tmp_path / "list.txt")]) == 0
    assert "imported 0 of 0 scans" in capsys.readouterr().out
