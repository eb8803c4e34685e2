import random

import numpy as np
import pytest
import torch

from scene3d.errors import SceneFormatError
from scene3d.train import Checkpointer, MetricLog, TrainState


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _step(model, opt):
    x = torch.randn(16, 4)
    loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def test_resume_continues_exactly(tmp_path):
    """6 steps straight == 3 steps, save, fresh objects + disturbed RNGs, load, 3 more steps."""
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    straight = [_step(model, opt) for _ in range(6)]

    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    first = [_step(model, opt) for _ in range(3)]
    ck = Checkpointer(tmp_path / "ck")
    ck.save(model, opt, TrainState(step=3, extra={"note": "x"}))
    random.random(), np.random.rand(), torch.randn(5)  # disturb every RNG
    model2 = _model()
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-2)
    state = ck.load(model2, opt2)
    assert state.step == 3 and state.extra == {"note": "x"}
    rest = [_step(model2, opt2) for _ in range(3)]
    assert first + rest == straight  # bit-exact


def test_keep_latest_and_errors(tmp_path):
    model = _model()
    ck = Checkpointer(tmp_path, keep=2)
    with pytest.raises(SceneFormatError, match="no checkpoint"):
        ck.load(model)
    for step in (1, 2, 3):
        ck.save(model, None, TrainState(step=step))
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000002", "step_00000003"]
    assert ck.latest().name == "step_00000003"
    (ck.latest() / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(SceneFormatError, match="cannot restore"):
        ck.load(model)


def test_metric_log_resume_and_plot(tmp_path):
    log = MetricLog(tmp_path)
    for s in range(5):
        log.log(s, loss=1.0 / (s + 1), acc=s / 4)
    resumed = MetricLog(tmp_path, resume_step=2)
    assert [r["step"] for r in resumed.rows] == [0, 1, 2]
    png = resumed.plot()
    assert png.stat().st_size > 1000
