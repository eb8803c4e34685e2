"""Mixed precision of the shared loop: resolution, fp32 outputs, the fp16 scaler in checkpoints and exact resume."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import NamedTuple

import pytest
import torch
from torch import nn

from scene3d.errors import ConfigError
from scene3d.train import Checkpointer, LoopConfig, TrainState, resolve_precision, run_training
from scene3d.train.precision import AutocastForward, to_float32

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="needs CUDA")])]


def test_resolve_precision_on_the_cpu():
    auto = resolve_precision("auto", "cpu")
    assert (auto.name, auto.mixed, auto.grad_scaler()) == ("fp32", False, None)   # CPU runs stay fp32
    assert isinstance(auto.autocast(), nullcontext)
    assert resolve_precision(" BF16 ", "cpu").name == "bf16"
    half = resolve_precision("fp16", "cpu")
    assert half.mixed and isinstance(half.grad_scaler(), torch.amp.GradScaler)
    for bad in ("fp8", "half", "", "float16"):
        with pytest.raises(ConfigError, match="expected one of auto, fp32, bf16, fp16"):
            resolve_precision(bad, "cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_auto_is_bf16_on_a_gpu_that_has_it():
    expected = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    assert resolve_precision("auto", "cuda:0").name == expected


class _Pair(NamedTuple):
    a: torch.Tensor
    n: int


@dataclass
class _Out:
    x: torch.Tensor
    ids: torch.Tensor
    rest: dict
    note: str = "kept"


def test_to_float32_walks_outputs():
    out = to_float32(_Out(torch.ones(2, dtype=torch.bfloat16), torch.arange(3), {"p": _Pair(torch.ones(1).half(), 4),
                                                                                "l": [torch.zeros(1).half()]}))
    assert out.x.dtype == torch.float32 and out.ids.dtype == torch.int64 and out.note == "kept"
    assert isinstance(out.rest["p"], _Pair) and out.rest["p"].a.dtype == torch.float32 and out.rest["p"].n == 4
    assert out.rest["l"][0].dtype == torch.float32


def test_autocast_forward_runs_the_module_in_low_precision_and_returns_fp32():
    torch.manual_seed(0)
    lin = nn.Linear(8, 8)
    x = torch.randn(4, 8)
    seen = []
    lin.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = AutocastForward(lin, resolve_precision("bf16", "cpu"))(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    torch.testing.assert_close(out, lin(x), rtol=2e-2, atol=2e-2)
    assert not torch.equal(out, lin(x))      # it really ran in bf16


def test_checkpoint_carries_the_scaler_state(tmp_path):
    model = nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=7)
    scaler.load_state_dict({**scaler.state_dict(), "_growth_tracker": 5})
    ckpt = Checkpointer(tmp_path)
    ckpt.save(model, opt, TrainState(step=3), scaler=scaler)
    fresh = torch.amp.GradScaler("cpu")
    assert ckpt.load(nn.Linear(2, 1), scaler=fresh).step == 3
    assert fresh.state_dict() == scaler.state_dict() == {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                                         "growth_interval": 7, "_growth_tracker": 5}
    ckpt.save(model, opt, TrainState(step=4))                      # an fp32 run: no scaler state
    untouched = torch.amp.GradScaler("cpu", init_scale=8.0)
    ckpt.load(nn.Linear(2, 1), scaler=untouched)
    assert untouched.state_dict()["scale"] == 8.0


class _Task:
    """loss = w * x: under fp16 the loss scaler's first scale (65536) overflows the gradient of
    the fp16 output, so the first step is skipped and the scale halves; later steps train."""

    def __init__(self, device: str, stop_after: int | None = None):
        self.device, self.stop_after, self.calls = device, stop_after, 0

    micro_batch = 1

    def draw(self, rng, size):
        return rng.integers(3, size=size).tolist()

    def losses(self, model, batch, positions, generator):
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt   # the process dies mid-step
        x = torch.tensor([[1.0 + 0.25 * batch[positions[0]]]], device=self.device)
        return {"loss": model(x).sum()}


def _fresh(device: str) -> nn.Module:
    model = nn.Linear(1, 1, bias=False).to(device)
    with torch.no_grad():
        model.weight.fill_(1.0)
    return model


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_resume_is_exact_and_restores_the_loss_scale(tmp_path, device):
    loop = LoopConfig(steps=6, batch_size=1, checkpoint_every=2, warmup=1, lr=0.1)
    straight = _fresh(device)
    run_training(straight, _Task(device), loop, tmp_path / "a", progress=False, device=device, precision="fp16")
    with pytest.raises(KeyboardInterrupt):
        run_training(_fresh(device), _Task(device, stop_after=3), loop, tmp_path / "b", progress=False,
                     device=device, precision="fp16")                     # dies in step 4, after the step-2 checkpoint
    resumed = _fresh(device)
    run_training(resumed, _Task(device), loop, tmp_path / "b", progress=False, device=device, precision="fp16")
    torch.testing.assert_close(resumed.weight, straight.weight, rtol=0, atol=0)
    scale = torch.amp.GradScaler(device)
    Checkpointer(tmp_path / "b" / "checkpoints").load(_fresh(device), scaler=scale)
    assert scale.get_scale() == 32768.0                                 # the overflow of step 1, carried over
    # a resumed run that forgot the scale would skip its first step again: the weights would differ
    assert float(straight.weight.detach()) != 1.0


def test_precision_does_not_change_fp32_cpu_runs(tmp_path):
    loop = LoopConfig(steps=3, batch_size=1, checkpoint_every=3, warmup=1, lr=0.1)
    a, b = _fresh("cpu"), _fresh("cpu")
    run_training(a, _Task("cpu"), loop, tmp_path / "a", progress=False)               # default: auto
    run_training(b, _Task("cpu"), loop, tmp_path / "b", progress=False, precision="fp32")
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="precision=fp64"):
        run_training(_fresh("cpu"), _Task("cpu"), loop, tmp_path / "c", progress=False, precision="fp64")
