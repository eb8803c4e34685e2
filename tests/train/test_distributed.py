"""Devices and per-step seeding of the training loops (the multi-process checks are in
tests/grounding/test_ddp.py and tests/distill/test_trainer.py)."""

import pytest
import torch

from scene3d.errors import ConfigError
from scene3d.train.distributed import DistInfo, agree_on_step, resolve_device, seed_step

CUDA = torch.cuda.is_available()


def test_resolve_device_specs():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cuda", 0) if CUDA else torch.device("cpu"))
    for bad in ("gpu", "cuda:x", "", "tpu"):
        if bad.startswith("cuda") and not CUDA:
            continue
        with pytest.raises(ConfigError, match="expected auto, cpu, cuda or cuda:N|GPU"):
            resolve_device(bad)


@pytest.mark.skipif(CUDA, reason="checks the error where CUDA is missing")
def test_cuda_without_cuda_is_a_clear_error():
    for spec in ("cuda", "cuda:0", "CUDA:1"):
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device(spec)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_devices_follow_local_rank(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert resolve_device("cuda") == torch.device("cuda", 0) == resolve_device("auto")
    with pytest.raises(ConfigError, match="GPU"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_seed_step_makes_in_step_draws_a_function_of_the_step():
    seed_step(0, 5, 1)
    a = torch.rand(4)
    torch.rand(100)                      # whatever ran in between
    seed_step(0, 5, 1)
    torch.testing.assert_close(torch.rand(4), a, rtol=0, atol=0)
    seed_step(0, 5, 2)
    assert not torch.equal(torch.rand(4), a)     # another rank (or position) draws differently


def test_agree_on_step_is_a_no_op_for_one_process(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda *a, **k: calls.append(a))
    assert agree_on_step(7, DistInfo()) is None
    assert calls == []                              # one process: no collective is called
