"""Emission-absorption volume rendering on packed samples.

For the samples ``i`` of one ray with densities ``sigma_i`` (1/metre) on intervals
``[t_start_i, t_end_i)`` of length ``delta_i`` (metres):

* optical thickness ``tau_i = sigma_i * delta_i``
* alpha ``a_i = 1 - exp(-tau_i)``
* transmittance ``T_i = exp(-sum_{j<i} tau_j)`` (exclusive cumulative sum per ray)
* weight ``w_i = T_i * a_i``

and per ray: ``features = sum_i w_i f_i``, ``depth = sum_i w_i t_mid_i`` (ray distance in
metres, *not* normalised: divide by opacity for the expected depth of the hit surface),
``opacity = sum_i w_i = 1 - exp(-sum_i tau_i)``. Rays without samples render zeros.

All reductions use the packed layout of :class:`~scene3d.render.sampling.RaySamples`; no loop
over rays. Per-ray sums are ``torch.segment_reduce`` over the CSR offsets, and the feature sum
is one sparse CSR (R, S) x (S, D) matmul (:func:`weighted_sum_along_rays`). The exclusive
per-ray sum is one global ``cumsum`` minus its value at each ray's first sample; it runs in
float64 so that the subtraction keeps full float32 accuracy even over millions of samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from scene3d.render.errors import RenderInputError, check_shape
from scene3d.render.field import FieldOutput
from scene3d.render.sampling import RaySamples

__all__ = [
    "RenderOutput",
    "Weights",
    "exclusive_cumsum_packed",
    "render_weights",
    "accumulate_along_rays",
    "weighted_sum_along_rays",
    "composite",
    "EmissionAbsorptionMarcher",
]


@dataclass
class RenderOutput:
    """Per-ray rendering results.

    Attributes:
        features: (R, D) rendered features ``sum_i w_i f_i`` (zero on empty rays; no background).
        depth: (R,) ``sum_i w_i t_mid_i``, ray distance in metres, unnormalised.
        opacity: (R,) accumulated opacity ``sum_i w_i`` in [0, 1].
        weights: (S,) per-sample weights ``w_i`` in the packed layout of the samples.
        num_samples: S, the number of samples evaluated by the field.
    """

    features: torch.Tensor
    depth: torch.Tensor
    opacity: torch.Tensor
    weights: torch.Tensor
    num_samples: int


class Weights(NamedTuple):
    """Result of :func:`render_weights`, all (S,) in the packed layout.

    Attributes:
        weights: ``w_i = T_i * a_i``.
        transmittance: ``T_i``, the light reaching the start of sample i.
        alphas: ``a_i = 1 - exp(-sigma_i * delta_i)``.
    """

    weights: torch.Tensor
    transmittance: torch.Tensor
    alphas: torch.Tensor


def exclusive_cumsum_packed(values: torch.Tensor, ray_indices: torch.Tensor, ray_offsets: torch.Tensor) -> torch.Tensor:
    """Exclusive cumulative sum of ``values`` restarted at each ray.

    ``out[s] = sum of values[ray_offsets[r] : s]`` for the ray ``r = ray_indices[s]``.
    Computed as ``cumsum(values) - values - (that quantity at the ray's first sample)`` in
    float64, then cast back. Differentiable.

    Args:
        values: (S,) floating values in the packed layout.
        ray_indices: (S,) int64 ray of each sample (non-decreasing).
        ray_offsets: (R+1,) int64 CSR offsets.

    Returns:
        (S,) exclusive per-ray sums, dtype of ``values``.
    """
    acc = values.double()
    exclusive = torch.cumsum(acc, dim=0) - acc  # (S,) global exclusive sum
    first = ray_offsets[ray_indices]  # (S,) index of the first sample of each sample's ray
    return (exclusive - exclusive[first]).to(values.dtype)


def _check_samples(samples: RaySamples, density: torch.Tensor) -> None:
    n = samples.ray_indices.shape[0]
    check_shape("density", density, (n,))
    check_shape("samples.t_starts", samples.t_starts, (n,))
    check_shape("samples.t_ends", samples.t_ends, (n,))
    check_shape("samples.ray_offsets", samples.ray_offsets, (None,))
    if samples.ray_offsets.shape[0] < 1:
        raise RenderInputError("samples.ray_offsets: needs R+1 >= 1 entries")
    if not bool((torch.isfinite(density) & (density >= 0)).all()):
        raise RenderInputError("density: must be finite and >= 0 (1/metre); apply an activation such as relu or softplus")


def render_weights(samples: RaySamples, density: torch.Tensor) -> Weights:
    """Per-sample compositing weights from densities (see module docstring).

    Args:
        samples: S packed samples over R rays.
        density: (S,) non-negative densities, 1/metre.

    Returns:
        :class:`Weights` (weights, transmittance, alphas), each (S,).

    Raises:
        RenderInputError: on shape mismatches, or a NaN, infinite or negative density.
    """
    _check_samples(samples, density)
    tau = density * (samples.t_ends - samples.t_starts)  # (S,)
    alphas = -torch.expm1(-tau)  # (S,) = 1 - exp(-tau), accurate for small tau
    transmittance = torch.exp(-exclusive_cumsum_packed(tau, samples.ray_indices, samples.ray_offsets))
    return Weights(weights=transmittance * alphas, transmittance=transmittance, alphas=alphas)


def accumulate_along_rays(values: torch.Tensor, ray_offsets: torch.Tensor) -> torch.Tensor:
    """Per-ray sums of packed per-sample values (a segmented sum over the CSR offsets).

    Args:
        values: (S,) or (S, D) per-sample values in the packed layout.
        ray_offsets: (R+1,) int64 CSR offsets.

    Returns:
        (R,) or (R, D) sums; zero for rays without samples. Differentiable w.r.t. ``values``.
    """
    return torch.segment_reduce(values, "sum", offsets=ray_offsets, axis=0, initial=0.0)


class _WeightedRaySum(torch.autograd.Function):
    """``out[r] = sum_{s in ray r} weights[s] * values[s]`` as one sparse (R, S) x dense (S, D) product.

    The forward is a CSR sparse-dense matmul (MKL on CPU, cuSPARSE on CUDA) and never
    materialises the (S, D) weighted values; the backward is two gathers:
    ``d values = weights * g[ray]`` and ``d weights = <values, g[ray]>``, written with
    differentiable ops.
    """

    @staticmethod
    def forward(ctx, weights: torch.Tensor, values: torch.Tensor, ray_indices: torch.Tensor, ray_offsets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        num_samples = weights.shape[0]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(
                ray_offsets,
                torch.arange(num_samples, device=weights.device),
                weights,
                size=(ray_offsets.shape[0] - 1, num_samples),
                check_invariants=False,
            )  # (R, S)
            out = matrix @ values.contiguous()  # (R, D)
        ctx.save_for_backward(weights, values, ray_indices)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        weights, values, ray_indices = ctx.saved_tensors
        per_sample = grad_out.index_select(0, ray_indices)  # (S, D)
        grad_weights = (per_sample * values).sum(-1) if ctx.needs_input_grad[0] else None
        grad_values = per_sample * weights[:, None] if ctx.needs_input_grad[1] else None
        return grad_weights, grad_values, None, None


def weighted_sum_along_rays(
    weights: torch.Tensor, values: torch.Tensor, ray_indices: torch.Tensor, ray_offsets: torch.Tensor
) -> torch.Tensor:
    """Per-ray weighted sums ``out[r] = sum_{s in ray r} weights[s] * values[s]``.

    Equals ``accumulate_along_rays(weights[:, None] * values, ray_offsets)`` without building the
    (S, D) product (a sparse CSR matmul forward, gathers backward). Differentiable w.r.t.
    ``weights`` and ``values``.

    Args:
        weights: (S,) per-sample weights.
        values: (S, D) per-sample values, same dtype.
        ray_indices: (S,) int64 ray of each sample (non-decreasing).
        ray_offsets: (R+1,) int64 CSR offsets.

    Returns:
        (R, D) sums; zero for rays without samples.
    """
    return _WeightedRaySum.apply(weights, values, ray_indices, ray_offsets)


def composite(samples: RaySamples, field_output: FieldOutput) -> RenderOutput:
    """Emission-absorption compositing of packed samples into per-ray features, depth and opacity.

    Args:
        samples: S packed samples over R rays (intervals in metres).
        field_output: features (S, D) and density (S,) at the samples' midpoints.

    Returns:
        :class:`RenderOutput` with features (R, D), depth (R,), opacity (R,), weights (S,).

    Raises:
        RenderInputError: on shape mismatches, or a NaN, infinite or negative density.
    """
    check_shape("field_output.features", field_output.features, (samples.ray_indices.shape[0], None))
    weights = render_weights(samples, field_output.density).weights  # (S,)
    t_mid = 0.5 * (samples.t_starts + samples.t_ends)  # (S,)
    offsets = samples.ray_offsets
    return RenderOutput(
        features=weighted_sum_along_rays(weights, field_output.features, samples.ray_indices, offsets),
        depth=accumulate_along_rays(weights * t_mid.to(weights.dtype), offsets),
        opacity=accumulate_along_rays(weights, offsets),
        weights=weights,
        num_samples=int(samples.ray_indices.shape[0]),
    )


class EmissionAbsorptionMarcher(nn.Module):
    """Ray marcher module for :class:`~scene3d.render.renderer.Renderer`: :func:`composite`."""

    def forward(self, samples: RaySamples, field_output: FieldOutput) -> RenderOutput:
        """Composite ``field_output`` at ``samples``; see :func:`composite`."""
        return composite(samples, field_output)
