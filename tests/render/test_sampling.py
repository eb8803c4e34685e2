import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scene3d.render import (
    Rays,
    RenderInputError,
    SparseVoxelGrid,
    ray_aabb_intersect,
    sample_occupied,
    sample_uniform,
)

BOX = torch.tensor([[0.0, 0.0, 0.0], [2.0, 1.0, 1.0]], dtype=torch.float64)


def _rays(o, d) -> Rays:
    d = torch.tensor(d, dtype=torch.float64)
    return Rays(torch.tensor(o, dtype=torch.float64), d / torch.linalg.norm(d, dim=-1, keepdim=True))


def test_ray_box_analytic_cases():
    rays = _rays(
        [[-1.0, 0.5, 0.5], [1.0, 0.5, 0.5], [-1.0, 2.0, 0.5], [-1.0, 0.5, 0.5], [-1.0, 1.0, 0.5], [3.0, 0.5, 0.5]],
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
    )
    hits = ray_aabb_intersect(rays, BOX)
    # a ray running along the y = 1 face (zero y-direction) is inside the closed slab: it hits
    assert hits.hit.tolist() == [True, True, False, False, True, False]
    torch.testing.assert_close(hits.t_near[:2], torch.tensor([1.0, 0.0], dtype=torch.float64))  # 2nd starts inside
    torch.testing.assert_close(hits.t_far[:2], torch.tensor([3.0, 0.5], dtype=torch.float64))
    assert (hits.t_near[4].item(), hits.t_far[4].item()) == (1.0, 3.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_ray_box_entry_exit_on_surface(seed):
    g = torch.Generator().manual_seed(seed)
    o = torch.randn(64, 3, generator=g, dtype=torch.float64) * 3
    d = torch.randn(64, 3, generator=g, dtype=torch.float64)
    d[::4, 1] = 0.0  # exercise zero components
    rays = Rays(o, d / torch.linalg.norm(d, dim=-1, keepdim=True))
    hits = ray_aabb_intersect(rays, BOX)
    h = hits.hit
    mid = rays.origins + rays.directions * (0.5 * (hits.t_near + hits.t_far))[:, None]
    inside = ((mid >= BOX[0] - 1e-9) & (mid <= BOX[1] + 1e-9)).all(-1)
    assert bool(inside[h].all())
    # brute force: rays that miss have no inside point on a fine t grid
    ts = torch.linspace(0, 12, 4001, dtype=torch.float64)
    pts = rays.origins[:, None] + rays.directions[:, None] * ts[None, :, None]
    any_inside = ((pts > BOX[0]) & (pts < BOX[1])).all(-1).any(-1)
    assert bool((any_inside <= h).all())


def test_sample_uniform_layout():
    rays = _rays([[-1.0, 0.5, 0.5], [-1.0, 5.0, 0.5], [0.5, 0.5, 0.5]], [[1.0, 0.0, 0.0]] * 3)
    s = sample_uniform(rays, BOX, 4)
    assert s.ray_offsets.tolist() == [0, 4, 4, 8]  # the middle ray misses: no samples
    assert s.ray_indices.tolist() == [0] * 4 + [2] * 4
    torch.testing.assert_close(s.t_starts[:4], torch.tensor([1.0, 1.5, 2.0, 2.5], dtype=torch.float64))
    torch.testing.assert_close(s.t_ends[4:], torch.tensor([0.375, 0.75, 1.125, 1.5], dtype=torch.float64))
    strat = sample_uniform(rays, BOX, 4, stratified=True, generator=torch.Generator().manual_seed(0))
    mid = 0.5 * (strat.t_starts + strat.t_ends)
    assert bool(((mid >= s.t_starts) & (mid <= s.t_ends)).all())
    torch.testing.assert_close(strat.t_ends - strat.t_starts, s.t_ends - s.t_starts)


def _room_grid() -> SparseVoxelGrid:
    g = torch.Generator().manual_seed(3)
    coords = torch.unique(torch.randint(-6, 6, (300, 3), generator=g), dim=0)
    return SparseVoxelGrid(coords, voxel_size=0.25, origin=torch.tensor([0.1, -0.2, 0.05]))


@pytest.mark.parametrize("stratified", [False, True])
def test_occupied_is_uniform_restricted_to_occupied_voxels(stratified):
    grid = _room_grid()
    g = torch.Generator().manual_seed(4)
    o = torch.randn(200, 3, generator=g, dtype=torch.float64) * 3
    d = torch.randn(200, 3, generator=g, dtype=torch.float64)
    rays = Rays(o, d / torch.linalg.norm(d, dim=-1, keepdim=True))
    uni = sample_uniform(rays, grid.aabb(), 32, stratified=stratified, generator=torch.Generator().manual_seed(9))
    occ = sample_occupied(rays, grid, 32, stratified=stratified, generator=torch.Generator().manual_seed(9))
    # reference: occupancy of each uniform sample via a Python set of voxel coordinates
    occupied = {tuple(c) for c in grid.coords.tolist()}
    p = uni.positions(rays)
    vox = torch.floor((p - grid.origin.double()) / grid.voxel_size).long().tolist()
    keep = torch.tensor([tuple(v) in occupied for v in vox], dtype=torch.bool)
    assert 0 < occ.ray_indices.numel() < uni.ray_indices.numel()
    assert occ.ray_indices.tolist() == uni.ray_indices[keep].tolist()
    torch.testing.assert_close(occ.t_starts, uni.t_starts[keep], rtol=0, atol=0)
    torch.testing.assert_close(occ.t_ends, uni.t_ends[keep], rtol=0, atol=0)
    counts = torch.bincount(uni.ray_indices[keep], minlength=200)
    assert occ.ray_offsets.tolist() == [0] + torch.cumsum(counts, 0).tolist()


def test_single_voxel_ray_samples_inside_it():
    grid = SparseVoxelGrid(torch.tensor([[2, 0, 0]]), voxel_size=0.5)  # spans x in [1, 1.5)
    rays = _rays([[0.0, 0.25, 0.25], [0.0, 0.75, 0.25]], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    s = sample_occupied(rays, grid, 8, aabb=torch.tensor([[0.0, 0.0, 0.0], [4.0, 1.0, 1.0]]))
    assert s.ray_offsets.tolist() == [0, 1, 1]  # bins of 0.5 m: exactly the bin [1, 1.5)
    assert (s.t_starts.item(), s.t_ends.item()) == (1.0, 1.5)


def test_sampling_errors():
    rays = _rays([[0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(RenderInputError, match="num_samples"):
        sample_uniform(rays, BOX, 0)
    with pytest.raises(RenderInputError, match="non-finite"):
        sample_uniform(Rays(torch.full((1, 3), math.nan), rays.directions), BOX, 4)
    with pytest.raises(RenderInputError, match="zero vectors"):
        ray_aabb_intersect(Rays(torch.zeros(1, 3), torch.zeros(1, 3)), BOX)
    with pytest.raises(RenderInputError, match="max corner"):
        ray_aabb_intersect(rays, BOX.flip(0))
    with pytest.raises(RenderInputError, match="expected shape"):
        ray_aabb_intersect(Rays(torch.zeros(2, 3), torch.zeros(3, 3)), BOX)
