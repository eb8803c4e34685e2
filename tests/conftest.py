"""Shared fixtures: tiny scenes built in code and the optional real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from scene3d.structures import Frame
from tests.tiny_scene import make_tiny_scene

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    for cand in (os.environ.get("SCENE3D_DATA"), REPO.parent / "shared" / "data"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


@pytest.fixture(autouse=True, scope="session")
def _text_store(tmp_path_factory):
    """The text embeddings the tests keep (scene3d.io.text_store) go to a temporary folder, not
    the user's cache (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCENE3D_CACHE_DIR", str(tmp_path_factory.mktemp("scene3d_cache")))
        yield


@pytest.fixture
def shared_data() -> Path:
    """The real train-side data; the test is skipped with a message when it is absent."""
    root = shared_data_root()
    if root is None:
        pytest.skip("real data not found: put it in ../shared/data or set SCENE3D_DATA")
    return root


@pytest.fixture
def tiny_scene():
    return make_tiny_scene(points_per_m2=60.0)


def make_frame(name: str = "f0", h: int = 6, w: int = 8, seed: int = 0) -> Frame:
    """A small frame with mm-exact depth and an instance map (round-trips exactly)."""
    rng = np.random.default_rng(seed)
    depth_mm = rng.integers(0, 8000, size=(h, w)).astype(np.uint16)
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 2.0, 1.5]
    return Frame(
        name=name,
        rgb=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
        K=np.array([[10.0, 0.0, w / 2], [0.0, 10.0, h / 2], [0.0, 0.0, 1.0]]),
        cam_to_world=pose,
        depth=depth_mm.astype(np.float32) / np.float32(1000.0),
        instance=rng.integers(-1, 6, size=(h, w)).astype(np.int32),
    )
