import pytest
import torch
import torch.nn.functional as F

from scene3d.render import RenderInputError, SparseVoxelField, SparseVoxelGrid, trilinear_interpolate

ORIGIN = torch.tensor([-0.3, 0.2, 0.1])
VOXEL = 0.25
SHAPE = (5, 4, 3)  # X, Y, Z voxels


def _dense_coords() -> torch.Tensor:
    xs, ys, zs = torch.meshgrid(*(torch.arange(n) for n in SHAPE), indexing="ij")
    return torch.stack([xs, ys, zs], -1).reshape(-1, 3)  # (X*Y*Z, 3) in x-major order


def _grid_sample_reference(dense: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """dense (X, Y, Z, C) voxel-centre values -> (P, C) via grid_sample(align_corners=False, zeros)."""
    w = (points - ORIGIN.to(points.dtype)) / VOXEL  # continuous voxel coordinates
    size = torch.tensor(SHAPE, dtype=points.dtype)
    norm = 2 * w / size - 1  # align_corners=False: -1 / +1 are the outer faces of the grid
    inp = dense.permute(3, 2, 1, 0)[None]  # (1, C, Z, Y, X): grid[..., 0] indexes X
    out = F.grid_sample(inp, norm[None, :, None, None, :], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0, :, :, 0, 0].T  # (P, C)


def _points(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    extent = torch.tensor(SHAPE, dtype=dtype) * VOXEL
    # includes points outside the grid (zero padding) by sampling a slightly larger box
    return ORIGIN.to(dtype) - 0.2 + torch.rand(n, 3, generator=g, dtype=dtype) * (extent + 0.4)


def test_trilinear_equals_grid_sample_dense():
    coords = _dense_coords()
    grid = SparseVoxelGrid(coords, VOXEL, ORIGIN)
    g = torch.Generator().manual_seed(0)
    values = torch.randn(coords.shape[0], 6, generator=g, dtype=torch.float64)
    dense = values.reshape(*SHAPE, 6)
    pts = _points(500, 1)
    got = trilinear_interpolate(grid, values, pts).values
    torch.testing.assert_close(got, _grid_sample_reference(dense, pts))


def test_trilinear_sparse_equals_grid_sample_with_zero_holes():
    coords = _dense_coords()
    keep = torch.rand(coords.shape[0], generator=torch.Generator().manual_seed(2)) < 0.5
    perm = torch.randperm(int(keep.sum()), generator=torch.Generator().manual_seed(3))
    sparse_coords = coords[keep][perm]  # arbitrary order
    grid = SparseVoxelGrid(sparse_coords, VOXEL, ORIGIN)
    values = torch.randn(sparse_coords.shape[0], 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    dense = torch.zeros(*SHAPE, 3, dtype=torch.float64)
    dense[sparse_coords[:, 0], sparse_coords[:, 1], sparse_coords[:, 2]] = values
    pts = _points(500, 5)
    interp = trilinear_interpolate(grid, values, pts)
    torch.testing.assert_close(interp.values, _grid_sample_reference(dense, pts))
    vox = torch.floor((pts - ORIGIN.double()) / VOXEL).long()
    inside = ((vox >= 0) & (vox < torch.tensor(SHAPE))).all(-1)
    occ = torch.zeros(SHAPE, dtype=torch.bool)
    occ[sparse_coords[:, 0], sparse_coords[:, 1], sparse_coords[:, 2]] = True
    want = inside & occ[vox[:, 0].clamp(0, 4), vox[:, 1].clamp(0, 3), vox[:, 2].clamp(0, 2)]
    assert interp.support.tolist() == want.tolist()


def test_trilinear_gradcheck_values_and_points():
    coords = _dense_coords()[::2]
    grid = SparseVoxelGrid(coords, VOXEL, ORIGIN)
    values = torch.randn(coords.shape[0], 2, dtype=torch.float64, requires_grad=True)
    # points away from voxel-centre planes, where the interpolant is smooth
    w = torch.tensor([[1.2, 1.3, 1.1], [2.7, 0.8, 1.6], [0.3, 2.2, 0.9]], dtype=torch.float64)
    pts = (ORIGIN.double() + w * VOXEL).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v, p: trilinear_interpolate(grid, v, p).values, (values, pts))
    assert torch.autograd.gradgradcheck(lambda v: trilinear_interpolate(grid, v, pts.detach()).values, (values,))


def test_field_is_zero_outside_occupied_voxels_and_exact_at_centres():
    grid = SparseVoxelGrid(torch.tensor([[0, 0, 0], [1, 0, 0]]), voxel_size=1.0)
    feats = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    field = SparseVoxelField(grid, feats, torch.tensor([5.0, 7.0], dtype=torch.float64))
    pts = torch.tensor([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5], [1.0, 0.5, 0.5], [0.5, 0.5, 1.2], [2.2, 0.5, 0.5]], dtype=torch.float64)
    out = field(pts)
    torch.testing.assert_close(out.density, torch.tensor([5.0, 7.0, 6.0, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(out.features[:3], torch.tensor([[1.0, 2.0], [3.0, 4.0], [2.0, 3.0]], dtype=torch.float64))
    assert out.features[3:].abs().sum() == 0


def test_field_gradients_flow_to_non_learnable_source():
    grid = SparseVoxelGrid(torch.tensor([[0, 0, 0], [1, 0, 0]]), voxel_size=1.0)
    source = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    feats = source * 2  # e.g. the output of a network
    field = SparseVoxelField(grid, feats, torch.ones(2, dtype=torch.float64), learnable=False)
    assert list(field.parameters()) == []
    field(torch.tensor([[0.9, 0.5, 0.5]], dtype=torch.float64)).features.sum().backward()
    assert source.grad is not None and source.grad.abs().sum() > 0
    learnable = SparseVoxelField(grid, feats, torch.ones(2, dtype=torch.float64))
    assert {n for n, _ in learnable.named_parameters()} == {"features", "density"}


def test_field_errors():
    grid = SparseVoxelGrid(torch.tensor([[0, 0, 0], [1, 0, 0]]), voxel_size=1.0)
    with pytest.raises(RenderInputError, match="features"):
        SparseVoxelField(grid, torch.zeros(3, 4), torch.zeros(2))
    with pytest.raises(RenderInputError, match="dtype"):
        SparseVoxelField(grid, torch.zeros(2, 4), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(RenderInputError, match="dtype"):
        trilinear_interpolate(grid, torch.zeros(2, 1), torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(RenderInputError, match="non-finite"):
        SparseVoxelField(grid, torch.zeros(2, 4), torch.zeros(2))(torch.tensor([[0.5, float("nan"), 0.5]]))
