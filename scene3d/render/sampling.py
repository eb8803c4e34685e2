"""Ray-box intersection and ray sampling into the packed sample layout.

Packed layout (``RaySamples``): the samples of all rays are concatenated ray after ray,
in increasing ``t`` inside each ray. ``ray_offsets`` (R+1,) is the CSR index:
the samples of ray ``r`` are ``ray_offsets[r]:ray_offsets[r+1]`` and ``ray_indices[s]`` is the
ray of sample ``s``. A ray may have zero samples.

Two samplers share one candidate grid so that they can be compared exactly: every ray that
hits the box gets ``num_samples`` equal bins over ``[t_near, t_far]`` (optionally jittered:
stratified sampling). :func:`sample_uniform` keeps all of them; :func:`sample_occupied`
keeps only those whose sample point falls inside an occupied voxel (empty-space skipping).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from scene3d.render.cameras import Rays
from scene3d.render.errors import RenderInputError, check_finite, check_shape
from scene3d.render.grid import SparseVoxelGrid

__all__ = [
    "RayBoxHits",
    "RaySamples",
    "ray_aabb_intersect",
    "sample_uniform",
    "sample_occupied",
    "offsets_from_counts",
    "UniformRaySampler",
    "OccupiedRaySampler",
]


class RayBoxHits(NamedTuple):
    """Result of :func:`ray_aabb_intersect`.

    Attributes:
        t_near: (R,) entry distance along the ray, metres, clamped to ``>= near``.
        t_far: (R,) exit distance, metres.
        hit: (R,) bool, ``t_far > t_near`` (the ray's visible part crosses the box).
            ``t_near`` and ``t_far`` are meaningless where ``hit`` is False.
    """

    t_near: torch.Tensor
    t_far: torch.Tensor
    hit: torch.Tensor


class RaySamples(NamedTuple):
    """Samples along rays in the packed layout (see module docstring).

    Attributes:
        ray_indices: (S,) int64 ray of each sample, non-decreasing.
        t_starts: (S,) start of each sample's interval along its ray, metres.
        t_ends: (S,) end of each interval, metres (``t_ends > t_starts``).
        ray_offsets: (R+1,) int64 CSR offsets; ``ray_offsets[-1] == S``.
    """

    ray_indices: torch.Tensor
    t_starts: torch.Tensor
    t_ends: torch.Tensor
    ray_offsets: torch.Tensor

    @property
    def num_rays(self) -> int:
        """R, the number of rays (including rays without samples)."""
        return self.ray_offsets.shape[0] - 1

    def positions(self, rays: Rays) -> torch.Tensor:
        """(S, 3) world positions of the interval midpoints ``o + d * (t_start + t_end) / 2``."""
        t_mid = 0.5 * (self.t_starts + self.t_ends)  # (S,)
        return rays.origins[self.ray_indices] + rays.directions[self.ray_indices] * t_mid[:, None]


def offsets_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """(R+1,) int64 CSR offsets ``[0, c0, c0+c1, ...]`` from per-ray sample counts (R,)."""
    return torch.nn.functional.pad(torch.cumsum(counts.long(), dim=0), (1, 0))


def _check_rays(rays: Rays) -> None:
    check_shape("rays.origins", rays.origins, (None, 3))
    check_shape("rays.directions", rays.directions, (rays.origins.shape[0], 3))
    check_finite("rays.origins", rays.origins)
    check_finite("rays.directions", rays.directions)
    if bool((rays.directions == 0).all(dim=-1).any()):
        raise RenderInputError("rays.directions: contains zero vectors; every ray needs a direction")


def ray_aabb_intersect(rays: Rays, aabb: torch.Tensor, near: float = 0.0) -> RayBoxHits:
    """Slab-method intersection of rays with one axis-aligned box.

    Directions need not be unit (``t`` is then in units of the direction's length). A zero
    direction component is handled exactly: the ray is inside that slab for all ``t`` if its
    origin is, otherwise for none. Rays starting inside the box get ``t_near = near``.

    Args:
        rays: R rays, origins (R, 3) and directions (R, 3), world metres.
        aabb: (2, 3) ``[min corner, max corner]``, metres.
        near: smallest accepted distance (e.g. a camera near plane), metres.

    Returns:
        :class:`RayBoxHits` with (R,) tensors.

    Raises:
        RenderInputError: on wrong shapes, non-finite values, zero directions or an inverted box.
    """
    _check_rays(rays)
    check_shape("aabb", aabb, (2, 3))
    check_finite("aabb", aabb)
    if bool((aabb[1] < aabb[0]).any()):
        raise RenderInputError(f"aabb: max corner must be >= min corner, got {aabb.tolist()}")
    o, d = rays.origins, rays.directions
    lo, hi = aabb.to(device=o.device, dtype=o.dtype)  # (3,) each
    zero = d == 0  # (R, 3)
    safe_d = torch.where(zero, torch.ones_like(d), d)
    t0 = (lo - o) / safe_d  # (R, 3)
    t1 = (hi - o) / safe_d
    inside = (o >= lo) & (o <= hi)
    inf = torch.full_like(t0, float("inf"))
    t_min = torch.where(zero, torch.where(inside, -inf, inf), torch.minimum(t0, t1))
    t_max = torch.where(zero, torch.where(inside, inf, -inf), torch.maximum(t0, t1))
    t_near = t_min.amax(dim=-1).clamp_min(near)  # (R,)
    t_far = t_max.amin(dim=-1)  # (R,)
    return RayBoxHits(t_near=t_near, t_far=t_far, hit=t_far > t_near)


def _candidate_bins(
    hits: RayBoxHits, num_samples: int, stratified: bool, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, S) t_starts and t_ends: ``num_samples`` equal bins over each ray's [t_near, t_far].

    With ``stratified`` each bin keeps its width and is shifted by a uniform offset in
    ``[-step/2, step/2)``: its midpoint is uniform inside the original bin (so it stays in
    ``[t_near, t_far]``), its edges may leave that range by up to ``step/2``. Rays that miss
    get ``t_near = t_far = 0`` here; callers drop them.
    """
    t_near = torch.where(hits.hit, hits.t_near, torch.zeros_like(hits.t_near))
    t_far = torch.where(hits.hit, hits.t_far, torch.zeros_like(hits.t_far))
    step = (t_far - t_near) / num_samples  # (R,)
    k = torch.arange(num_samples, device=step.device, dtype=step.dtype)  # (S,)
    t_mid = t_near[:, None] + (k[None, :] + 0.5) * step[:, None]  # (R, S)
    if stratified:
        at = generator.device if generator is not None else t_mid.device   # a CPU generator draws the same on any device
        u = torch.rand(t_mid.shape, generator=generator, device=at, dtype=t_mid.dtype).to(t_mid.device)
        t_mid = t_mid + (u - 0.5) * step[:, None]
    half = 0.5 * step[:, None]
    return t_mid - half, t_mid + half


def _pack(keep: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor) -> RaySamples:
    """Pack the kept entries of (R, S) candidate bins into :class:`RaySamples`."""
    ray_ids, _ = keep.nonzero(as_tuple=True)  # row-major, so rays ascend and t ascends within a ray
    return RaySamples(
        ray_indices=ray_ids,
        t_starts=t_starts[keep],
        t_ends=t_ends[keep],
        ray_offsets=offsets_from_counts(keep.sum(dim=1)),
    )


def _check_num_samples(num_samples: int) -> None:
    if int(num_samples) != num_samples or num_samples <= 0:
        raise RenderInputError(f"num_samples: expected a positive integer, got {num_samples}")


def sample_uniform(
    rays: Rays,
    aabb: torch.Tensor,
    num_samples: int,
    *,
    near: float = 0.0,
    stratified: bool = False,
    generator: torch.Generator | None = None,
) -> RaySamples:
    """Uniform (optionally stratified) samples over each ray's part inside ``aabb``: the plain reference.

    Every ray that hits the box gets ``num_samples`` equal bins over ``[t_near, t_far]``, of
    width ``step = (t_far - t_near) / num_samples``; with ``stratified`` every bin is shifted
    by an independent uniform offset in ``[-step/2, step/2)``. Rays that miss get no samples.

    Args:
        rays: R rays (origins (R, 3), unit directions (R, 3)), world metres.
        aabb: (2, 3) scene box, metres.
        num_samples: bins per hitting ray (> 0).
        near: near plane along the ray, metres.
        stratified: jitter the bins (training); False gives deterministic bin midpoints.
        generator: random generator for the jitter, on the rays' device or the CPU (the draws
            are then made there and moved: the same jitter on any device).

    Returns:
        :class:`RaySamples` with S = num_samples * (number of hitting rays).
    """
    _check_num_samples(num_samples)
    hits = ray_aabb_intersect(rays, aabb, near)
    t_starts, t_ends = _candidate_bins(hits, num_samples, stratified, generator)
    keep = hits.hit[:, None].expand(-1, num_samples)  # (R, S)
    return _pack(keep, t_starts, t_ends)


def sample_occupied(
    rays: Rays,
    grid: SparseVoxelGrid,
    num_samples: int,
    *,
    aabb: torch.Tensor | None = None,
    near: float = 0.0,
    stratified: bool = False,
    generator: torch.Generator | None = None,
) -> RaySamples:
    """Samples of :func:`sample_uniform` whose midpoint lies in an occupied voxel (empty-space skipping).

    Uses the same candidate bins as :func:`sample_uniform` (same box, ``num_samples``,
    ``stratified`` and generator state give the same candidates), then keeps the bins whose
    midpoint ``o + d * t_mid`` falls in an occupied voxel of ``grid`` (one vectorised hash
    lookup for all R x num_samples candidates). Since :class:`~scene3d.render.field.SparseVoxelField`
    is zero outside occupied voxels, rendering these samples gives exactly the uniform result.

    Args:
        rays: R rays (origins (R, 3), unit directions (R, 3)), world metres.
        grid: the occupied-voxel set.
        num_samples: candidate bins per hitting ray (> 0).
        aabb: (2, 3) box bounding the candidates, metres; default ``grid.aabb()``.
        near: near plane along the ray, metres.
        stratified: jitter the candidate bins.
        generator: random generator for the jitter, on the rays' device or the CPU (the draws
            are then made there and moved: the same jitter on any device).

    Returns:
        :class:`RaySamples` with at most ``num_samples`` samples per ray.
    """
    _check_num_samples(num_samples)
    hits = ray_aabb_intersect(rays, grid.aabb() if aabb is None else aabb, near)
    t_starts, t_ends = _candidate_bins(hits, num_samples, stratified, generator)
    t_mid = 0.5 * (t_starts + t_ends)  # (R, S)
    points = rays.origins[:, None, :] + rays.directions[:, None, :] * t_mid[..., None]  # (R, S, 3)
    keep = hits.hit[:, None] & (grid.voxel_of(points) >= 0)  # (R, S)
    return _pack(keep, t_starts, t_ends)


class UniformRaySampler(nn.Module):
    """Ray sampler module for :class:`~scene3d.render.renderer.Renderer`: :func:`sample_uniform`.

    Args:
        aabb: (2, 3) scene box, metres (stored as a buffer).
        num_samples: bins per hitting ray.
        near: near plane, metres.
        stratified: jitter bins while the module is in training mode (never in eval mode).
    """

    aabb: torch.Tensor

    def __init__(self, aabb: torch.Tensor, num_samples: int, near: float = 0.0, stratified: bool = True) -> None:
        super().__init__()
        _check_num_samples(num_samples)
        check_shape("aabb", aabb, (2, 3))
        self.register_buffer("aabb", aabb.clone())
        self.num_samples = int(num_samples)
        self.near = float(near)
        self.stratified = stratified

    def forward(self, rays: Rays, generator: torch.Generator | None = None) -> RaySamples:
        """Packed samples for ``rays``; see :func:`sample_uniform`."""
        return sample_uniform(
            rays, self.aabb, self.num_samples, near=self.near,
            stratified=self.stratified and self.training, generator=generator,
        )


class OccupiedRaySampler(nn.Module):
    """Ray sampler module for :class:`~scene3d.render.renderer.Renderer`: :func:`sample_occupied`.

    Args:
        grid: the occupied-voxel set (shared with the field; registered as a submodule).
        num_samples: candidate bins per hitting ray.
        near: near plane, metres.
        stratified: jitter bins while the module is in training mode (never in eval mode).
    """

    def __init__(self, grid: SparseVoxelGrid, num_samples: int, near: float = 0.0, stratified: bool = True) -> None:
        super().__init__()
        _check_num_samples(num_samples)
        self.grid = grid
        self.num_samples = int(num_samples)
        self.near = float(near)
        self.stratified = stratified

    def forward(self, rays: Rays, generator: torch.Generator | None = None) -> RaySamples:
        """Packed samples for ``rays``; see :func:`sample_occupied`."""
        return sample_occupied(
            rays, self.grid, self.num_samples, near=self.near,
            stratified=self.stratified and self.training, generator=generator,
        )
