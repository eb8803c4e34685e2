"""The student's feature head applied after the read-out (points, rays) equals reading the per-voxel
features: values and gradients against the dense reference (head on every voxel first), float64."""

from __future__ import annotations

import torch

from scene3d.distill import StudentOutput
from scene3d.render import Cameras, Rays
from scene3d.sparse import SparseTensor

VOX = 0.1
H, D = 5, 7


def _output(dtype=torch.float64, seed: int = 0):
    """A 4 x 4 x 2 block of voxels with random hidden features, head and densities (leaf tensors)."""
    gen = torch.Generator().manual_seed(seed)
    i, j, k = torch.meshgrid(torch.arange(4), torch.arange(4), torch.arange(2), indexing="ij")
    coords = torch.stack([torch.zeros_like(i), i + 20, j, k], dim=-1).reshape(-1, 4).int()
    n = coords.shape[0]
    hidden = torch.randn(n, H, generator=gen, dtype=dtype).requires_grad_(True)
    weight = torch.randn(D, H, generator=gen, dtype=dtype).requires_grad_(True)
    bias = torch.randn(D, generator=gen, dtype=dtype).requires_grad_(True)
    density = (torch.rand(n, generator=gen, dtype=dtype) * 20 + 5).requires_grad_(True)
    return coords, hidden, weight, bias, density


def _both(coords, hidden, weight, bias, density):
    """(head after the read-out, dense reference: the head's features on every voxel, no head)."""
    fast = StudentOutput(SparseTensor(hidden.detach(), coords, voxel_size=VOX), hidden, density, VOX, weight, bias)
    feats = torch.nn.functional.linear(hidden, weight, bias)  # (N, D) on every voxel
    dense = StudentOutput(SparseTensor(feats.detach(), coords, voxel_size=VOX), feats, density, VOX)
    return fast, dense


# points inside the block, on its border (some corners inactive) and far away (no active corner: 0)
POINTS = torch.tensor([[2.13, 0.17, 0.05], [2.02, 0.01, 0.19], [2.39, 0.38, 0.11], [2.25, 0.22, 0.0], [5.0, 5.0, 5.0]],
                      dtype=torch.float64)


def test_point_features_equal_the_dense_reference_values_and_gradients():
    leaves = _output()
    fast, dense = _both(*leaves)
    got, want = fast.point_features(POINTS), dense.point_features(POINTS)
    assert got.shape == (5, D)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.equal(got[4], torch.zeros(D, dtype=torch.float64))  # no active corner: 0, not the bias
    upstream = torch.randn(5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    g_fast = torch.autograd.grad((got * upstream).sum(), leaves[1:4])
    g_dense = torch.autograd.grad((want * upstream).sum(), leaves[1:4])
    for a, b in zip(g_fast, g_dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast.features, dense.features)


def test_point_features_gradcheck():
    coords, *leaves = _output()

    def f(hidden, weight, bias):
        out = StudentOutput(SparseTensor(hidden.detach(), coords, voxel_size=VOX), hidden, None, VOX, weight, bias)
        return out.point_features(POINTS)

    assert torch.autograd.gradcheck(f, tuple(leaves[:3]), eps=1e-6, atol=1e-6)


def _rays() -> Rays:
    origins = torch.tensor([[1.5, 0.15, 0.1], [1.5, 0.21, 0.12], [2.2, -1.0, 0.13], [1.5, 3.0, 3.0]], dtype=torch.float64)
    directions = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.02, 0.0], [1.0, 0.0, 0.01], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64), dim=-1)
    return Rays(origins, directions)


def test_rendered_rays_equal_the_dense_reference_values_and_gradients():
    leaves = _output()
    fast, dense = _both(*leaves)
    got = fast.render_rays(_rays(), 128, stratified=True, generator=torch.Generator().manual_seed(2))
    want = dense.render_rays(_rays(), 128, stratified=True, generator=torch.Generator().manual_seed(2))
    opacity = got.opacity.detach()
    assert float(opacity[:3].min()) > 0.5 and float(opacity[3]) == 0.0  # the last ray misses the block
    for name in ("features", "depth", "opacity"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-12, atol=1e-12)
    upstream = torch.randn(4, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    g_fast = torch.autograd.grad((got.features * upstream).sum() + got.depth.sum(), leaves[1:])
    g_dense = torch.autograd.grad((want.features * upstream).sum() + want.depth.sum(), leaves[1:])
    for a, b in zip(g_fast, g_dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_whole_view_render_equals_the_dense_reference():
    leaves = _output()
    fast, dense = _both(*[t.detach() for t in leaves])
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    pose[:3, 3] = torch.tensor([1.0, 0.2, 0.1], dtype=torch.float64)
    K = torch.tensor([[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]], dtype=torch.float64)
    cams = Cameras(K[None], pose[None], 8, 8)
    got, want = fast.render(cams, 64, chunk=5), dense.render(cams, 64)
    assert float(got.opacity.max()) > 0.5
    torch.testing.assert_close(got.features, want.features, rtol=1e-12, atol=1e-12)
