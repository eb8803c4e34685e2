import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scene3d.render import Cameras, RenderInputError, pixel_centers, project_points, rays_from_cameras, rays_from_pixels

from .conftest import make_pose, random_rotation


def _simple_camera(dtype=torch.float64) -> Cameras:
    K = torch.tensor([[[100.0, 0.0, 32.0], [0.0, 80.0, 24.0], [0.0, 0.0, 1.0]]], dtype=dtype)
    return Cameras(K, torch.eye(4, dtype=dtype)[None], 48, 64)


def test_opencv_axes_and_principal_point():
    cams = _simple_camera()
    pts = torch.tensor([[0.0, 0.0, 2.0], [0.1, 0.0, 2.0], [0.0, 0.1, 2.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    proj = project_points(cams, pts)
    torch.testing.assert_close(proj.uv[0, 0], torch.tensor([32.0, 24.0], dtype=torch.float64))
    assert proj.uv[0, 1, 0] > 32.0 and proj.uv[0, 1, 1] == 24.0  # +x -> right
    assert proj.uv[0, 2, 1] > 24.0 and proj.uv[0, 2, 0] == 32.0  # +y -> down
    torch.testing.assert_close(proj.depth[0], torch.tensor([2.0, 2.0, 2.0, -1.0], dtype=torch.float64))


def test_pixel_centres_at_half():
    uv = pixel_centers(2, 3)
    torch.testing.assert_close(uv, torch.tensor([[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [0.5, 1.5], [1.5, 1.5], [2.5, 1.5]]))


def test_rays_from_cameras_order_and_unit_length(cameras_factory):
    cams = cameras_factory(batch=2, height=5, width=7)
    rays = rays_from_cameras(cams)
    assert rays.origins.shape == (2 * 5 * 7, 3)
    torch.testing.assert_close(torch.linalg.norm(rays.directions, dim=-1), torch.ones(70, dtype=torch.float64))
    # ray b*H*W + j*W + i passes through pixel centre (i+0.5, j+0.5) of camera b
    b, j, i = 1, 3, 4
    r = b * 35 + j * 7 + i
    point = rays.origins[r] + 2.5 * rays.directions[r]
    torch.testing.assert_close(project_points(cams, point[None]).uv[b, 0], torch.tensor([i + 0.5, j + 0.5], dtype=torch.float64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), depth=st.floats(0.1, 50.0))
def test_round_trip_pixel_ray_point_pixel(seed, depth):
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[[50.0, 0.3, 40.0], [0.0, 60.0, 30.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    cams = Cameras(K, make_pose(random_rotation(g), torch.randn(3, generator=g, dtype=torch.float64))[None], 60, 80)
    uv = torch.rand(16, 2, generator=g, dtype=torch.float64) * torch.tensor([80.0, 60.0], dtype=torch.float64)
    rays = rays_from_pixels(cams, torch.zeros(16, dtype=torch.long), uv)
    # a point at camera depth `depth` along each ray
    d_cam = (cams.world_to_cam()[0, :3, :3] @ rays.directions.T).T  # (16, 3)
    points = rays.origins + rays.directions * (depth / d_cam[:, 2:3])
    proj = project_points(cams, points)
    torch.testing.assert_close(proj.uv[0], uv, atol=1e-8, rtol=0)
    torch.testing.assert_close(proj.depth[0], torch.full((16,), depth, dtype=torch.float64))


def test_world_to_cam_is_inverse(cameras_factory):
    cams = cameras_factory(batch=4)
    eye = torch.eye(4, dtype=torch.float64).expand(4, 4, 4)
    torch.testing.assert_close(cams.world_to_cam() @ cams.cam_to_world, eye)


def test_crop_keeps_rays(cameras_factory):
    cams = cameras_factory(batch=2, height=24, width=32)
    crop = cams.crop(top=5, left=7, height=10, width=12)
    assert (crop.height, crop.width) == (10, 12)
    frames = torch.tensor([0, 1, 1])
    uv_crop = torch.tensor([[0.5, 0.5], [11.5, 9.5], [3.25, 4.75]], dtype=torch.float64)
    a = rays_from_pixels(crop, frames, uv_crop)
    b = rays_from_pixels(cams, frames, uv_crop + torch.tensor([7.0, 5.0], dtype=torch.float64))
    torch.testing.assert_close(a.directions, b.directions)
    torch.testing.assert_close(a.origins, b.origins)


@pytest.mark.parametrize("factor", [2, 4])
def test_downscale_keeps_projection_consistent(cameras_factory, factor):
    cams = cameras_factory(batch=2, height=24, width=32)
    small = cams.downscale(factor)
    assert (small.height, small.width) == (24 // factor, 32 // factor)
    pts = torch.randn(20, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(project_points(small, pts).uv, project_points(cams, pts).uv / factor)
    # small pixel j covers big pixels [j*f, (j+1)*f): centres map to centres of the blocks
    frames = torch.zeros(1, dtype=torch.long)
    a = rays_from_pixels(small, frames, torch.tensor([[1.5, 2.5]], dtype=torch.float64))
    b = rays_from_pixels(cams, frames, torch.tensor([[1.5 * factor, 2.5 * factor]], dtype=torch.float64))
    torch.testing.assert_close(a.directions, b.directions)


def test_resize_non_integer(cameras_factory):
    cams = cameras_factory(batch=1, height=24, width=32)
    small = cams.resize(18, 20)
    pts = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    scale = torch.tensor([20 / 32, 18 / 24], dtype=torch.float64)
    torch.testing.assert_close(project_points(small, pts).uv, project_points(cams, pts).uv * scale)


def test_validation_errors():
    K = torch.eye(3)[None].clone()
    K[0, 0, 0] = K[0, 1, 1] = 10.0
    pose = torch.eye(4)[None]
    with pytest.raises(RenderInputError, match="expected shape"):
        Cameras(K[0], pose, 4, 4)
    with pytest.raises(RenderInputError, match="non-finite"):
        Cameras(K.clone().fill_(math.nan), pose, 4, 4)
    with pytest.raises(RenderInputError, match="not a rotation"):
        Cameras(K, pose * 2 + torch.tensor([0.0, 0.0, 0.0, -1.0]).diag(), 4, 4)
    bad_k = K.clone()
    bad_k[0, 2, 0] = 1.0
    with pytest.raises(RenderInputError, match="last row"):
        Cameras(bad_k, pose, 4, 4)
    with pytest.raises(RenderInputError, match="height and width"):
        Cameras(K, pose, 0, 4)
    cams = Cameras(K, pose, 4, 4)
    with pytest.raises(RenderInputError, match="crop"):
        cams.crop(2, 2, 3, 3)
    with pytest.raises(RenderInputError, match="dividing"):
        cams.downscale(3)
    with pytest.raises(RenderInputError, match="frame_indices"):
        rays_from_pixels(cams, torch.tensor([1]), torch.zeros(1, 2))
    with pytest.raises(RenderInputError, match="non-finite"):
        rays_from_pixels(cams, torch.tensor([0]), torch.full((1, 2), math.nan))
    with pytest.raises(RenderInputError, match="points"):
        project_points(cams, torch.zeros(4, 2))
