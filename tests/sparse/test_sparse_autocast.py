"""Sparse convolutions under autocast: low-precision GEMMs, fp32 accumulation, fp32 outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from scene3d.sparse import CONV_ALGORITHMS, SubMConv3d

from .dense_reference import sparse_input

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="needs CUDA")])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algorithm", CONV_ALGORITHMS)
def test_conv_under_bf16_autocast_is_fp32_out_and_close(device: str, algorithm: str) -> None:
    x = sparse_input(torch.Generator().manual_seed(1), [300, 200], 10, 16, torch.float32)
    x = type(x)(x.features.detach().to(device).requires_grad_(True), x.coords.to(device), batch_size=2)
    torch.manual_seed(0)
    conv = SubMConv3d(16, 24, 3, algorithm=algorithm).to(device)
    probe = torch.randn(x.num_points, 24, generator=torch.Generator().manual_seed(2)).to(device)

    def run(autocast: bool):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            out = conv(x).features
        grads = torch.autograd.grad((out * probe).sum(), (x.features, conv.weight))
        return out, grads

    ref, (gf_ref, gw_ref) = run(False)
    out, (gf, gw) = run(True)
    assert out.dtype == gf.dtype == gw.dtype == torch.float32
    scale = ref.detach().abs().max()
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2 * float(scale))
    torch.testing.assert_close(gf, gf_ref, rtol=2e-2, atol=2e-2 * float(gf_ref.abs().max()))
    torch.testing.assert_close(gw, gw_ref, rtol=2e-2, atol=2e-2 * float(gw_ref.abs().max()))
    if algorithm == "gather_scatter":
        assert not torch.equal(out, ref)        # its GEMMs really ran in bf16
    else:
        torch.testing.assert_close(out, ref, rtol=0, atol=0)   # the others stay fp32 throughout
