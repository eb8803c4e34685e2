"""The spconv backend equals our layers (forward and both gradients) with converted weights."""

from __future__ import annotations

import pytest
import torch

from scene3d.models import SparseUNet, SparseUNetConfig
from scene3d.sparse import SparseConv3d, SparseConvTranspose3d, SparseTensor, SubMConv3d, voxelize
from scene3d.sparse.spconv_adapter import (
    SpconvSparseConv3d,
    SpconvSparseConvTranspose3d,
    SpconvSubMConv3d,
    spconv_available,
    to_spconv,
    weight_from_spconv,
    weight_to_spconv,
)

from .dense_reference import random_coords

pytestmark = [
    pytest.mark.skipif(not spconv_available(), reason="optional spconv not installed"),
    pytest.mark.filterwarnings("ignore:'locale.getdefaultlocale' is deprecated:DeprecationWarning"),  # ccimport
]
TOL = dict(rtol=1e-4, atol=1e-4)  # spconv accumulates float32 in its own order


def _pair(gen: torch.Generator, make_ours, make_spconv, chain=None):
    coords = random_coords(gen, [300, 0, 200], 12) - torch.tensor([0, 5, 3, 7], dtype=torch.int32)
    feats = torch.randn(coords.shape[0], 4, generator=gen)
    ours, theirs = make_ours(), make_spconv()
    theirs.load_state_dict(ours.state_dict())
    outs = []
    for layer in (ours, theirs):
        f = feats.clone().requires_grad_(True)
        x = SparseTensor(f, coords, batch_size=3)
        y = layer(x) if chain is None else chain(layer, x)
        probe = torch.arange(y.features.numel(), dtype=torch.float32).view_as(y.features).sin()
        (y.features * probe).sum().backward()
        outs.append((y, f.grad, layer.weight.grad))
    return outs


def test_weight_layout_roundtrip() -> None:
    w = torch.randn(27, 4, 5)
    ws = weight_to_spconv(w, 3)
    assert ws.shape == (5, 3, 3, 3, 4)
    torch.testing.assert_close(weight_from_spconv(ws), w, rtol=0, atol=0)
    assert ws[2, 0, 1, 2, 3] == w[(0 * 3 + 1) * 3 + 2, 3, 2]


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (5, 1), (3, 2)])
def test_subm_matches(kernel_size: int, dilation: int) -> None:
    gen = torch.Generator().manual_seed(kernel_size + dilation)
    (a, ga, wa), (b, gb, wb) = _pair(
        gen,
        lambda: SubMConv3d(4, 6, kernel_size, dilation=dilation),
        lambda: SpconvSubMConv3d(4, 6, kernel_size, dilation=dilation),
    )
    for u, v in ((a.features, b.features), (ga, gb), (wa, wb)):
        torch.testing.assert_close(u, v, **TOL)


def test_down_and_transposed_match() -> None:
    gen = torch.Generator().manual_seed(3)

    def chain(down, x):
        up = (SparseConvTranspose3d if type(down) is SparseConv3d else SpconvSparseConvTranspose3d)(4, 3)
        with torch.no_grad():
            up.weight.copy_(torch.linspace(-1, 1, up.weight.numel()).view_as(up.weight))
        h = down(x)
        # compare the coarse level as sets (spconv orders its output sites its own way)
        order = torch.argsort(h.coords[:, 0].long() * 10**9 + h.coords[:, 1].long() * 10**6
                              + h.coords[:, 2].long() * 10**3 + h.coords[:, 3].long())
        chain.coarse.append(h.features[order])
        return up(h)

    chain.coarse = []
    (a, ga, wa), (b, gb, wb) = _pair(gen, lambda: SparseConv3d(4, 4), lambda: SpconvSparseConv3d(4, 4), chain)
    torch.testing.assert_close(chain.coarse[0], chain.coarse[1], **TOL)
    assert a.coords is not None and torch.equal(a.coords, b.coords)
    for u, v in ((a.features, b.features), (ga, gb), (wa, wb)):
        torch.testing.assert_close(u, v, **TOL)


def test_unsupported_strided_kernel_raises() -> None:
    with pytest.raises(ValueError, match="kernel_size == stride"):
        SpconvSparseConv3d(4, 4, kernel_size=3, stride=2)


def test_to_spconv_unet_matches_ours() -> None:
    gen = torch.Generator().manual_seed(4)
    pts = torch.rand(3000, 3, generator=gen) * 2
    colors = torch.rand(3000, 3, generator=gen)
    torch.manual_seed(0)
    small = dict(stem_channels=8, encoder_channels=(8, 16, 16, 16), decoder_channels=(16, 16, 8, 8), out_channels=5)
    net = SparseUNet(SparseUNetConfig.minkunet14(**small)).eval()  # running BN stats: order-free
    ref = net(voxelize(pts, 0.05, colors)[0], pts).point_features
    to_spconv(net)
    assert isinstance(net.stem[0], SpconvSubMConv3d) and isinstance(net.up[0][0], SpconvSparseConvTranspose3d)
    out = net(voxelize(pts, 0.05, colors)[0], pts).point_features  # a fresh manager
    torch.testing.assert_close(out, ref, **TOL)
