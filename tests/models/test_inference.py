import copy
import pickle

import pytest
import torch

from scene3d.models.grounding import GEOMETRY_DIM, MENTION_DIM, GroundingConfig, GroundingTransformer
from scene3d.models.inference import Traced, int8_linears

TINY = GroundingConfig(dim=32, layers=2, heads=2)


def _inputs(b: int, n: int, t: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[0, -1] = False
    tmask = torch.ones(b, t, dtype=torch.bool)
    tmask[-1, -1] = False
    return (torch.randn(b, n, GEOMETRY_DIM, generator=g), torch.randn(b, n, 384, generator=g), mask,
            torch.randn(b, t, 384, generator=g), tmask, torch.randn(b, 384, generator=g)), \
        torch.rand(b, n, MENTION_DIM, generator=g)


def _traced(model):
    return Traced(model, lambda out: (out.logits, out.anchor_logits, out.class_match), lambda out: out)


def test_traced_model_gives_the_modules_answers_for_any_size():
    torch.manual_seed(0)
    model = GroundingTransformer(TINY).eval()
    net = _traced(model)
    with torch.inference_mode():
        for b, n, t, seed in ((2, 7, 5, 0), (3, 4, 9, 1), (1, 12, 3, 2)):   # one trace serves every size
            args, mentions = _inputs(b, n, t, seed)
            logits, anchors, match = net(*args, mentions=mentions)
            want = model(*args, mentions=mentions)
            torch.testing.assert_close(logits, want.logits, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(anchors, want.anchor_logits, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(match, want.class_match, rtol=1e-5, atol=1e-5)
            assert torch.isinf(logits[0, -1]) and torch.isfinite(logits[0, :-1]).all()
        assert len(net._traces) == 1
        args, mentions = _inputs(2, 5, 4, 3)   # another pattern of arguments: a trace of its own
        net(*args, None, None, mentions)
        assert len(net._traces) == 2
    assert net.cfg is model.cfg and next(net.parameters()) is next(model.parameters())   # the module's attributes


def test_traced_model_runs_as_is_with_gradients_or_in_training():
    torch.manual_seed(0)
    model = GroundingTransformer(TINY).eval()
    net = _traced(model)
    args, mentions = _inputs(2, 6, 4, 0)
    logits, _, _ = net(*args, mentions=mentions)       # gradients on: the module itself, differentiable
    assert logits.requires_grad and not net._traces
    model.train()
    with torch.no_grad():
        net(*args, mentions=mentions)
    assert not net._traces


def _logits(out):
    return (out.logits,)


def _first(out):
    return out[0]


def test_traced_copies_and_pickles_without_its_traces():
    torch.manual_seed(0)
    net = Traced(GroundingTransformer(TINY).eval(), _logits, _first)
    args, mentions = _inputs(1, 4, 3, 0)
    with torch.inference_mode():
        want = net(*args, mentions=mentions)
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert not twin._traces and net._traces
        with torch.inference_mode():
            torch.testing.assert_close(twin(*args, mentions=mentions), want)


def test_int8_linears_is_a_close_copy():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 16))
    x = torch.randn(10, 64)
    q = int8_linears(mlp)
    assert q is not mlp and isinstance(mlp[0], torch.nn.Linear) and type(q[0]) is not torch.nn.Linear
    with torch.no_grad():
        want, got = mlp(x), q(x)
    assert not torch.equal(got, want)
    assert torch.nn.functional.cosine_similarity(got, want, dim=-1).min() > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_int8_linears_refuses_a_gpu_module():
    with pytest.raises(ValueError, match="CPU only"):
        int8_linears(torch.nn.Linear(4, 4).cuda())
