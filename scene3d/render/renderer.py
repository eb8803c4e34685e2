"""``Renderer(ray_sampler, field, marcher)``: the three parts composed into one module."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from scene3d.render.cameras import Rays
from scene3d.render.field import FieldOutput
from scene3d.render.sampling import RaySamples
from scene3d.render.volume import RenderOutput

__all__ = ["Renderer", "RaySampler", "Field", "Marcher"]


class RaySampler(Protocol):
    """Maps R rays to packed samples (e.g. :class:`~scene3d.render.sampling.OccupiedRaySampler`)."""

    def __call__(self, rays: Rays) -> RaySamples: ...


class Field(Protocol):
    """Maps (P, 3) world points to features (P, D) and densities (P,) (e.g. :class:`~scene3d.render.field.SparseVoxelField`)."""

    def __call__(self, positions: torch.Tensor) -> FieldOutput: ...


class Marcher(Protocol):
    """Composites packed samples into per-ray outputs (e.g. :class:`~scene3d.render.volume.EmissionAbsorptionMarcher`)."""

    def __call__(self, samples: RaySamples, field_output: FieldOutput) -> RenderOutput: ...


class Renderer(nn.Module):
    """Sample rays, evaluate the field at the samples, composite.

    Args:
        ray_sampler: rays -> :class:`RaySamples`; an ``nn.Module`` to move with the renderer.
        field: (P, 3) points -> :class:`FieldOutput`.
        marcher: (samples, field output) -> :class:`RenderOutput`.

    Example:
        >>> grid = SparseVoxelGrid(coords, voxel_size=0.05)
        >>> renderer = Renderer(OccupiedRaySampler(grid, 64), SparseVoxelField(grid, feats, sigma),
        ...                     EmissionAbsorptionMarcher())
        >>> out = renderer(rays_from_cameras(cameras))   # out.features (B*H*W, D)
    """

    def __init__(self, ray_sampler: RaySampler, field: Field, marcher: Marcher) -> None:
        super().__init__()
        self.ray_sampler = ray_sampler
        self.field = field
        self.marcher = marcher

    def forward(self, rays: Rays) -> RenderOutput:
        """Render R rays.

        Args:
            rays: origins (R, 3) and unit directions (R, 3), world metres.

        Returns:
            :class:`RenderOutput`: features (R, D), depth (R,) metres along the ray,
            opacity (R,), weights (S,), num_samples S.
        """
        samples = self.ray_sampler(rays)
        field_output = self.field(samples.positions(rays))
        return self.marcher(samples, field_output)
