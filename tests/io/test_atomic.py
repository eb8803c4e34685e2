"""Atomic writes leave files and folders with the modes the umask asks for, not tempfile's 0600 / 0700."""

import os
import stat
from pathlib import Path

import pytest

from scene3d.io import save_scene
from scene3d.io.atomic import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text, current_umask
from tests.conftest import make_frame


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_files_follow_umask(umask, tmp_path):
    atomic_write_text(tmp_path / "a.json", "{}")
    atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00")
    with atomic_path(tmp_path / "c.txt") as tmp:
        with open(tmp, "w") as f:  # a writer that opens the path itself (torch.save, safetensors)
            f.write("x")
    for name in ("a.json", "sub/b.bin", "c.txt"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "c.txt", "sub"]  # no temp files left


def test_atomic_dir_follows_umask(umask, tmp_path):
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("x")
    assert _mode(tmp_path / "d") == 0o777 & ~umask


def test_saved_scene_is_readable_by_others_under_022(tiny_scene, tmp_path):
    old = os.umask(0o022)
    try:
        tiny_scene.frames = [make_frame("f0", seed=1)]
        folder = save_scene(tiny_scene, tmp_path)
    finally:
        os.umask(old)
    paths = [folder, *folder.rglob("*")]
    assert len(paths) > 5  # points.ply, scene.json, frames/ with its images
    for p in paths:
        assert _mode(p) == (0o755 if p.is_dir() else 0o644), p
