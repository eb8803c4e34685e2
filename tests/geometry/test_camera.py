import numpy as np
import pytest
import torch

from scene3d.geometry.camera import (
    backproject,
    camera_directions,
    intrinsics,
    look_at,
    project,
)
from scene3d.render import camera_directions as torch_camera_directions


def test_intrinsics_analytic():
    # 90 degrees across 640 pixels: f = 320 / tan(45 deg) = 320
    K = intrinsics(640, 480, 90.0)
    np.testing.assert_allclose(K, [[320, 0, 320], [0, 320, 240], [0, 0, 1]], rtol=0, atol=1e-12)


def test_look_at_is_a_rigid_opencv_pose():
    eye, target = np.array([1.0, -2.0, 1.5]), np.array([0.5, 1.0, 0.8])
    pose = look_at(eye, target)
    R = pose[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(pose[:3, 3], eye)
    forward = (target - eye) / np.linalg.norm(target - eye)
    np.testing.assert_allclose(R[:, 2], forward, atol=1e-12)  # camera z looks at the target
    assert R[2, 0] == pytest.approx(0.0, abs=1e-12)  # x axis horizontal: no roll
    assert R[2, 1] < 0  # image y points down in the world
    with pytest.raises(ValueError, match="vertical"):
        look_at(np.zeros(3), np.array([0.0, 0.0, -1.0]))


def test_backproject_analytic():
    # fx = 100, fy = 200, principal point (50, 40); camera at (1, 2, 3) with identity rotation
    K = np.array([[100.0, 0.0, 50.0], [0.0, 200.0, 40.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 2.0, 3.0]
    uv = np.array([[50.0, 40.0], [150.0, 40.0], [50.0, 240.0]])
    cam = backproject(uv, np.array([2.0, 2.0, 4.0]), K)
    np.testing.assert_allclose(cam, [[0, 0, 2], [2, 0, 2], [0, 4, 4]], rtol=0, atol=1e-12)
    world = backproject(uv, np.array([2.0, 2.0, 4.0]), K, pose)
    np.testing.assert_allclose(world, cam + [1, 2, 3], rtol=0, atol=1e-12)
    # skew moves x by -skew * y / fx
    skewed = K.copy()
    skewed[0, 1] = 10.0
    np.testing.assert_allclose(camera_directions(skewed, np.array([[50.0, 240.0]])), [[-0.1, 1.0, 1.0]], atol=1e-12)


def test_project_inverts_backproject():
    rng = np.random.default_rng(0)
    K = intrinsics(320, 240, 75.0)
    K[0, 1] = 0.7  # a little skew
    pose = look_at(np.array([1.0, -2.0, 1.5]), np.array([0.5, 1.0, 0.8]))
    uv = rng.uniform([0, 0], [320, 240], (200, 2))
    depth = rng.uniform(0.3, 8.0, 200)
    back_uv, back_depth = project(backproject(uv, depth, K, pose), K, pose)
    np.testing.assert_allclose(back_uv, uv, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_depth, depth, rtol=0, atol=1e-12)
    # and the other way: world points in front of the camera come back where they were
    points = pose[:3, 3] + rng.uniform(-1, 1, (50, 3)) + 3.0 * pose[:3, 2]
    uv2, depth2 = project(points, K, pose)
    assert (depth2 > 0).all()
    np.testing.assert_allclose(backproject(uv2, depth2, K, pose), points, rtol=0, atol=1e-9)
    # a point behind the camera has negative depth
    assert project(pose[:3, 3][None] - pose[:3, 2], K, pose)[1][0] == pytest.approx(-1.0)


def test_numpy_and_torch_directions_agree_exactly():
    K = intrinsics(64, 48, 60.0)
    K[0, 1] = 0.3
    uv = np.random.default_rng(1).uniform(0, 64, (30, 2))
    want = camera_directions(K, uv)
    got = torch_camera_directions(torch.from_numpy(K), torch.from_numpy(uv)).numpy()
    np.testing.assert_array_equal(got, want)
