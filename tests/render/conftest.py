"""Shared fixtures for the render tests: tiny scenes made in code, fixed seeds."""

from __future__ import annotations

import pytest
import torch


def random_rotation(gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(3, 3) uniformly random proper rotation (QR of a Gaussian matrix, det fixed to +1)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def make_pose(rot: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(4, 4) cam_to_world from a rotation (3, 3) and a translation (3,)."""
    pose = torch.eye(4, dtype=rot.dtype)
    pose[:3, :3] = rot
    pose[:3, 3] = t
    return pose


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def cameras_factory():
    """Build a batch of random cameras: ``cameras_factory(batch, height, width, seed, dtype)``."""
    from scene3d.render import Cameras

    def build(batch: int = 3, height: int = 24, width: int = 32, seed: int = 0, dtype: torch.dtype = torch.float64) -> Cameras:
        g = torch.Generator().manual_seed(seed)
        K = torch.zeros(batch, 3, 3, dtype=dtype)
        K[:, 0, 0] = 20 + 10 * torch.rand(batch, generator=g, dtype=dtype)
        K[:, 1, 1] = 20 + 10 * torch.rand(batch, generator=g, dtype=dtype)
        K[:, 0, 2] = width / 2 + torch.rand(batch, generator=g, dtype=dtype)
        K[:, 1, 2] = height / 2 - torch.rand(batch, generator=g, dtype=dtype)
        K[:, 0, 1] = 0.1 * torch.rand(batch, generator=g, dtype=dtype)
        K[:, 2, 2] = 1
        poses = torch.stack(
            [make_pose(random_rotation(g, dtype), torch.randn(3, generator=g, dtype=dtype)) for _ in range(batch)]
        )
        return Cameras(K, poses, height, width)

    return build
