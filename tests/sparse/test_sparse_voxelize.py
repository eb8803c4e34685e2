"""voxelize / devoxelize: exact mean reduction, inverse map, trilinear vs dense grid_sample."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scene3d.sparse import SparseConv3d, SparseCoordinateError, SparseTensorError, devoxelize, voxelize

from .dense_reference import to_dense


def _cloud(gen: torch.Generator, n: int = 2000, extent: float = 1.0) -> torch.Tensor:
    return torch.rand(n, 3, generator=gen, dtype=torch.float64) * extent - extent / 3


def test_mean_reduction_and_inverse_map_exact() -> None:
    gen = torch.Generator().manual_seed(0)
    pts = _cloud(gen, 3000)
    batch = torch.randint(0, 3, (3000,), generator=gen)
    feats = torch.randn(3000, 5, generator=gen, dtype=torch.float64)
    vs = 0.1
    x, inv = voxelize(pts, vs, feats, batch=batch)
    assert x.voxel_size == vs and x.stride == 1 and x.batch_size == 3
    assert inv.shape == (3000,) and inv.dtype == torch.int64
    # each point's voxel is the floor of its position, in its batch
    expected = torch.cat([batch[:, None], torch.floor(pts / vs).long()], 1)
    assert torch.equal(x.coords[inv].long(), expected)
    # mean per voxel, reference with a Python dict
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, key in enumerate(map(tuple, expected.tolist())):
        groups.setdefault(key, []).append(i)
    assert len(groups) == x.num_points
    for row, key in enumerate(map(tuple, x.coords.tolist())):
        torch.testing.assert_close(x.features[row], feats[groups[key]].mean(0), rtol=1e-12, atol=1e-12)


def test_first_reduction_and_default_xyz_features() -> None:
    gen = torch.Generator().manual_seed(1)
    pts = _cloud(gen, 500)
    x, inv = voxelize(pts, 0.2, reduction="first")
    first = torch.full((x.num_points,), 10**9, dtype=torch.int64)
    for i, v in enumerate(inv.tolist()):
        first[v] = min(int(first[v]), i)
    torch.testing.assert_close(x.features, pts[first], rtol=0, atol=0)
    xm, _ = voxelize(pts, 0.2)
    assert (torch.floor(xm.features / 0.2).long() == xm.coords[:, 1:].long()).all()  # mean stays in its voxel


def test_nan_points_rejected() -> None:
    pts = torch.zeros(4, 3)
    pts[2, 1] = float("nan")
    with pytest.raises(SparseCoordinateError, match="row 2"):
        voxelize(pts, 0.05)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(points=torch.zeros(3, 2)), SparseTensorError),
        (dict(points=torch.zeros(3, 3, dtype=torch.int64)), TypeError),
        (dict(points=torch.zeros(3, 3), voxel_size=0.0), ValueError),
        (dict(points=torch.zeros(3, 3), batch=torch.zeros(3)), TypeError),
        (dict(points=torch.zeros(3, 3), features=torch.zeros(2, 1)), SparseTensorError),
        (dict(points=torch.full((1, 3), 1e6)), SparseCoordinateError),
    ],
)
def test_voxelize_argument_errors(kwargs, error) -> None:
    kwargs.setdefault("voxel_size", 0.05)
    with pytest.raises(error):
        voxelize(**kwargs)


def test_devoxelize_nearest_equals_inverse_map() -> None:
    gen = torch.Generator().manual_seed(2)
    pts = _cloud(gen, 1000)
    batch = torch.randint(0, 2, (1000,), generator=gen)
    x, inv = voxelize(pts, 0.07, torch.randn(1000, 3, generator=gen, dtype=torch.float64), batch=batch)
    torch.testing.assert_close(devoxelize(x, pts, batch, mode="nearest"), x.features[inv], rtol=0, atol=0)


@pytest.mark.parametrize("stride", [1, 2])
def test_trilinear_equals_dense_grid_sample(stride: int) -> None:
    gen = torch.Generator().manual_seed(3 + stride)
    vs, size = 0.1, 16  # stride-1 grid of 16 cells in [0, 1.6) m per axis
    pts = torch.rand(4000, 3, generator=gen, dtype=torch.float64) * 1.6
    batch = torch.randint(0, 2, (4000,), generator=gen)
    x, _ = voxelize(pts[::3], vs, torch.randn(1334, 4, generator=gen, dtype=torch.float64), batch=batch[::3])
    if stride == 2:
        x = SparseConv3d(4, 4, 2, 2).to(torch.float64)(x)
    n_cells = size // stride
    out = devoxelize(x, pts, batch, mode="trilinear")
    # dense reference: align_corners=False puts cell i's value at its centre (i + 0.5) * cell
    dense_f = to_dense(x.features, x.coords, stride, 2, n_cells)
    dense_o = to_dense(torch.ones(x.num_points, 1, dtype=torch.float64), x.coords, stride, 2, n_cells)
    g = pts / (vs * stride * n_cells) * 2 - 1  # normalised to [-1, 1]
    ref = []
    for b in range(2):
        grid = g[batch == b].flip(1).view(1, -1, 1, 1, 3)  # grid_sample wants (z, y, x) for [x, y, z] grids
        f = F.grid_sample(dense_f[b : b + 1], grid, align_corners=False).view(4, -1).T
        o = F.grid_sample(dense_o[b : b + 1], grid, align_corners=False).view(1, -1).T
        ref.append(torch.where(o > 0, f / o.clamp(min=1e-300), f))
    expected = torch.empty_like(out)
    for b in range(2):
        expected[batch == b] = ref[b].to(out.dtype)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_devoxelize_gradcheck_and_errors() -> None:
    gen = torch.Generator().manual_seed(5)
    pts = _cloud(gen, 200)
    x, _ = voxelize(pts, 0.15, torch.randn(200, 2, generator=gen, dtype=torch.float64))
    feats = x.features.detach().requires_grad_(True)
    query = pts[:40] + 0.03
    assert torch.autograd.gradcheck(lambda f: devoxelize(x.replace_features(f), query), (feats,))
    with pytest.raises(ValueError, match="mode"):
        devoxelize(x, query, mode="cubic")
    no_size = x.__class__(x.features, x.coords)
    with pytest.raises(SparseTensorError, match="voxel_size"):
        devoxelize(no_size, query)
