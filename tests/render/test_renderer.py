import pytest
import torch

from scene3d.render import (
    Cameras,
    EmissionAbsorptionMarcher,
    OccupiedRaySampler,
    Rays,
    Renderer,
    SparseVoxelField,
    SparseVoxelGrid,
    UniformRaySampler,
    rays_from_cameras,
)


def _scene(dtype=torch.float64):
    """A 2 x 2 x 1 m floor slab plus a 0.5 m cube, 0.1 m voxels, random features/densities."""
    xs, ys = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    floor = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.zeros(400, dtype=torch.long)], -1)
    cx, cy, cz = torch.meshgrid(torch.arange(5, 10), torch.arange(8, 13), torch.arange(1, 6), indexing="ij")
    cube = torch.stack([cx.reshape(-1), cy.reshape(-1), cz.reshape(-1)], -1)
    coords = torch.cat([floor, cube])
    grid = SparseVoxelGrid(coords, voxel_size=0.1, origin=torch.tensor([-1.0, -1.0, 0.0]))
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(coords.shape[0], 8, generator=g, dtype=dtype)
    dens = torch.rand(coords.shape[0], generator=g, dtype=dtype) * 20
    return grid, feats, dens


def _cameras(dtype=torch.float64) -> Cameras:
    # looking down from 1.5 m: camera z = world -z, camera x = world x, camera y = world -y
    pose = torch.eye(4, dtype=dtype)
    pose[:3, :3] = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]], dtype=dtype)
    pose[:3, 3] = torch.tensor([0.1, 0.2, 1.5], dtype=dtype)
    K = torch.tensor([[12.0, 0.0, 8.0], [0.0, 12.0, 6.0], [0.0, 0.0, 1.0]], dtype=dtype)
    return Cameras(K[None], pose[None], 12, 16)


def test_skipping_renders_exactly_like_uniform_forward_and_backward():
    grid, feats, dens = _scene()
    field = SparseVoxelField(grid, feats, dens)
    rays = rays_from_cameras(_cameras())
    skip = Renderer(OccupiedRaySampler(grid, 64, stratified=False), field, EmissionAbsorptionMarcher())
    uniform = Renderer(UniformRaySampler(grid.aabb(), 64, stratified=False), field, EmissionAbsorptionMarcher())
    a, b = skip(rays), uniform(rays)
    assert a.num_samples * 3 <= b.num_samples  # thin box here; the room benchmark reaches far more
    torch.testing.assert_close(a.features, b.features)
    torch.testing.assert_close(a.depth, b.depth)
    torch.testing.assert_close(a.opacity, b.opacity)
    assert a.opacity.max() > 0.5
    ga = torch.autograd.grad(a.features.sum() + a.depth.sum(), (field.features, field.density))
    gb = torch.autograd.grad(b.features.sum() + b.depth.sum(), (field.features, field.density))
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)


def test_ray_through_single_voxel_closed_form():
    # one voxel [0, 1)^3 with density sigma at its centre; all neighbours empty, so along the
    # axis through the centre sigma(x) = sigma * (1 - |x - 0.5|); integral over the voxel = 0.75 sigma
    sigma = 2.0
    grid = SparseVoxelGrid(torch.tensor([[0, 0, 0]]), voxel_size=1.0)
    field = SparseVoxelField(grid, torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([sigma], dtype=torch.float64))
    aabb = torch.tensor([[-2.0, 0.0, 0.0], [2.0, 1.0, 1.0]], dtype=torch.float64)
    rays = Rays(torch.tensor([[-2.0, 0.5, 0.5]], dtype=torch.float64), torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    # 16 bins of 0.25 m: the kink at x = 0.5 is a bin edge, so midpoint quadrature is exact
    out = Renderer(UniformRaySampler(aabb, 16, stratified=False), field, EmissionAbsorptionMarcher())(rays)
    torch.testing.assert_close(out.opacity, torch.tensor([1 - torch.exp(torch.tensor(-0.75 * sigma)).item()], dtype=torch.float64))
    skip = Renderer(OccupiedRaySampler(grid, 16, stratified=False), field, EmissionAbsorptionMarcher())
    out_skip = skip(rays)
    assert out_skip.num_samples == 16  # the grid box is the voxel itself: all 16 bins inside it
    torch.testing.assert_close(out_skip.opacity, out.opacity)
    assert 2.0 <= (out.depth / out.opacity).item() <= 3.0  # expected hit inside the voxel (t in [2, 3])


def test_renderer_trains_two_steps_and_moves_with_dtype():
    grid, feats, dens = _scene(torch.float32)
    renderer = Renderer(OccupiedRaySampler(grid, 32), SparseVoxelField(grid, feats, dens), EmissionAbsorptionMarcher())
    rays = rays_from_cameras(Cameras(_cameras().K.float(), _cameras().cam_to_world.float(), 12, 16))
    target = torch.zeros(rays.origins.shape[0], 8)
    opt = torch.optim.Adam(renderer.parameters(), lr=0.1)
    losses = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        samples = renderer.ray_sampler(rays, generator=gen)
        out = renderer.marcher(samples, renderer.field(samples.positions(rays)))
        loss = torch.nn.functional.mse_loss(out.features, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]
    renderer.eval()
    out = renderer(rays)
    assert out.features.shape == (12 * 16, 8) and out.depth.shape == (192,) and out.opacity.shape == (192,)
    assert out.features.dtype == torch.float32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cams = Cameras(_cameras().K.float(), _cameras().cam_to_world.float(), 12, 16)

    def build() -> Renderer:  # a fresh grid each: .to() moves a shared grid module in place
        grid, feats, dens = _scene(torch.float32)
        field = SparseVoxelField(grid, feats, dens)
        return Renderer(OccupiedRaySampler(grid, 64, stratified=False), field, EmissionAbsorptionMarcher())

    gpu = build().to("cuda")
    a, b = build()(rays_from_cameras(cams)), gpu(rays_from_cameras(cams.to("cuda")))
    assert b.features.device.type == "cuda"
    torch.testing.assert_close(b.features.cpu(), a.features, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(b.depth.cpu(), a.depth, atol=1e-4, rtol=1e-4)
    b.features.sum().backward()
    assert gpu.field.features.grad is not None and gpu.field.features.grad.device.type == "cuda"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_zbuffer_matches_cpu():
    from scene3d.render import zbuffer_points

    cams = Cameras(_cameras().K.float(), _cameras().cam_to_world.float(), 12, 16)
    pts = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pts[:, 2] = pts[:, 2].abs()
    a, b = zbuffer_points(cams, pts), zbuffer_points(cams.to("cuda"), pts.cuda())
    assert a.point_indices.tolist() == b.point_indices.cpu().tolist()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stratified_sampling_and_cameras():
    grid, feats, dens = _scene(torch.float32)
    grid = grid.to("cuda")
    cams = Cameras(_cameras().K.float(), _cameras().cam_to_world.float(), 12, 16).to("cuda").downscale(2)
    rays = rays_from_cameras(cams)
    gen = torch.Generator(device="cuda").manual_seed(0)
    sampler = OccupiedRaySampler(grid, 32).to("cuda").train()
    samples = sampler(rays, generator=gen)
    assert samples.ray_indices.device.type == "cuda" and samples.ray_offsets[-1].item() == samples.ray_indices.numel()
    field = SparseVoxelField(grid, feats.cuda(), dens.cuda())
    out = EmissionAbsorptionMarcher()(samples, field(samples.positions(rays)))
    assert out.features.shape == (6 * 8, 8) and bool(torch.isfinite(out.features).all())
