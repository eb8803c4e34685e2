"""The thread policy every command applies (scene3d.runtime)."""

import pytest
import torch

from scene3d.runtime import configure_threads


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("SCENE3D_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    before = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(before)


def test_default_is_one_passive_thread(clean_env):
    import os

    assert configure_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert torch.get_num_threads() == 1   # torch was imported already: set directly


def test_users_settings_win(clean_env):
    import os

    clean_env.setenv("OMP_NUM_THREADS", "2")
    clean_env.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert configure_threads() == 2 and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    clean_env.setenv("SCENE3D_THREADS", "3")
    assert configure_threads() == 3 and os.environ["OMP_NUM_THREADS"] == "3" and torch.get_num_threads() == 3
    clean_env.setenv("SCENE3D_THREADS", "many")
    with pytest.raises(ValueError, match="SCENE3D_THREADS='many'"):
        configure_threads()
