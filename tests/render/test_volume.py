import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scene3d.render import (
    EmissionAbsorptionMarcher,
    FieldOutput,
    RaySamples,
    RenderInputError,
    accumulate_along_rays,
    composite,
    exclusive_cumsum_packed,
    offsets_from_counts,
    render_weights,
    weighted_sum_along_rays,
)


def _samples_from_lists(t_per_ray: list[list[float]], dtype=torch.float64) -> RaySamples:
    """Samples whose intervals tile the given breakpoints: ray r has intervals [t_k, t_{k+1})."""
    starts, ends, ids, counts = [], [], [], []
    for r, ts in enumerate(t_per_ray):
        counts.append(max(len(ts) - 1, 0))
        for a, b in zip(ts[:-1], ts[1:]):
            starts.append(a)
            ends.append(b)
            ids.append(r)
    return RaySamples(
        ray_indices=torch.tensor(ids, dtype=torch.long),
        t_starts=torch.tensor(starts, dtype=dtype),
        t_ends=torch.tensor(ends, dtype=dtype),
        ray_offsets=offsets_from_counts(torch.tensor(counts)),
    )


def _random_packed(seed: int, num_rays: int = 7, dim: int = 3):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 6, (num_rays,), generator=g)
    counts[1] = 0  # always one empty ray
    lists = []
    for c in counts.tolist():
        lists.append(torch.cumsum(torch.rand(c + 1, generator=g, dtype=torch.float64) * 0.5, 0).tolist() if c else [])
    samples = _samples_from_lists(lists)
    s = samples.ray_indices.shape[0]
    density = (torch.rand(s, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    feats = torch.randn(s, dim, generator=g, dtype=torch.float64).requires_grad_(True)
    return samples, density, feats


def _naive(samples: RaySamples, density: torch.Tensor, feats: torch.Tensor):
    """Per-ray Python loop of emission-absorption compositing (the reference)."""
    outs_f, outs_d, outs_o = [], [], []
    off = samples.ray_offsets.tolist()
    for r in range(samples.num_rays):
        T = torch.ones((), dtype=density.dtype)
        f = torch.zeros(feats.shape[1], dtype=feats.dtype)
        d = torch.zeros((), dtype=density.dtype)
        o = torch.zeros((), dtype=density.dtype)
        for s in range(off[r], off[r + 1]):
            delta = samples.t_ends[s] - samples.t_starts[s]
            alpha = 1 - torch.exp(-density[s] * delta)
            w = T * alpha
            f = f + w * feats[s]
            d = d + w * 0.5 * (samples.t_starts[s] + samples.t_ends[s])
            o = o + w
            T = T * (1 - alpha)
        outs_f.append(f)
        outs_d.append(d)
        outs_o.append(o)
    return torch.stack(outs_f), torch.stack(outs_d), torch.stack(outs_o)


@pytest.mark.parametrize("num_bins", [1, 7, 64])
def test_constant_density_opacity_closed_form(num_bins):
    sigma, near, length = 1.7, 0.4, 1.3
    samples = _samples_from_lists([torch.linspace(near, near + length, num_bins + 1).tolist()])
    density = torch.full((num_bins,), sigma, dtype=torch.float64)
    feats = torch.tensor([[2.0, -1.0]], dtype=torch.float64).expand(num_bins, 2)
    out = composite(samples, FieldOutput(feats, density))
    opacity = 1 - math.exp(-sigma * length)
    torch.testing.assert_close(out.opacity, torch.tensor([opacity], dtype=torch.float64))
    torch.testing.assert_close(out.features, torch.tensor([[2 * opacity, -opacity]], dtype=torch.float64))
    assert out.num_samples == num_bins


def test_constant_density_depth_converges_to_integral():
    sigma, near, length = 2.0, 1.0, 1.5
    n = 4000
    samples = _samples_from_lists([torch.linspace(near, near + length, n + 1).tolist()])
    out = composite(samples, FieldOutput(torch.zeros(n, 1, dtype=torch.float64), torch.full((n,), sigma, dtype=torch.float64)))
    # int_near^{near+L} t sigma exp(-sigma (t - near)) dt
    e = math.exp(-sigma * length)
    depth = near * (1 - e) + (1 - e) / sigma - length * e
    torch.testing.assert_close(out.depth, torch.tensor([depth], dtype=torch.float64), atol=1e-6, rtol=0)


def test_step_density_closed_form():
    # empty [0, 1), sigma1 on [1, 1.5) with feature f1, empty [1.5, 2), sigma2 on [2, 3) with f2
    s1, s2 = 1.2, 3.0
    f1, f2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    samples = _samples_from_lists([[0.0, 1.0, 1.5, 2.0, 3.0]])
    density = torch.tensor([0.0, s1, 0.0, s2], dtype=torch.float64)
    feats = torch.stack([torch.zeros(2), f1, torch.zeros(2), f2]).double()
    out = composite(samples, FieldOutput(feats, density))
    w1 = 1 - math.exp(-s1 * 0.5)
    w2 = math.exp(-s1 * 0.5) * (1 - math.exp(-s2 * 1.0))
    torch.testing.assert_close(out.opacity, torch.tensor([w1 + w2], dtype=torch.float64))
    torch.testing.assert_close(out.features, torch.tensor([[w1, w2]], dtype=torch.float64))
    torch.testing.assert_close(out.depth, torch.tensor([w1 * 1.25 + w2 * 2.5], dtype=torch.float64))
    # the same densities split into many bins: opacity and features are exact for piecewise-constant fields
    fine = _samples_from_lists([torch.linspace(0, 3, 61).tolist()])
    mid = 0.5 * (fine.t_starts + fine.t_ends)
    seg1, seg2 = (mid >= 1) & (mid < 1.5), mid >= 2
    dens = torch.where(seg1, s1, torch.where(seg2, s2, 0.0)).double()
    fe = torch.where(seg1[:, None], f1.double(), torch.where(seg2[:, None], f2.double(), 0.0))
    out_fine = composite(fine, FieldOutput(fe, dens))
    torch.testing.assert_close(out_fine.features, out.features)
    torch.testing.assert_close(out_fine.opacity, out.opacity)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packed_equals_naive_loop_forward_and_backward(seed):
    samples, density, feats = _random_packed(seed)
    got = composite(samples, FieldOutput(feats, density))
    want_f, want_d, want_o = _naive(samples, density, feats)
    torch.testing.assert_close(got.features, want_f)
    torch.testing.assert_close(got.depth, want_d)
    torch.testing.assert_close(got.opacity, want_o)
    g = torch.Generator().manual_seed(seed + 100)
    cf, cd, co = (torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (want_f, want_d, want_o))
    grads_got = torch.autograd.grad((got.features * cf).sum() + (got.depth * cd).sum() + (got.opacity * co).sum(), (density, feats))
    grads_want = torch.autograd.grad((want_f * cf).sum() + (want_d * cd).sum() + (want_o * co).sum(), (density, feats))
    for a, b in zip(grads_got, grads_want):
        torch.testing.assert_close(a, b)


def test_composite_gradcheck():
    samples, density, feats = _random_packed(5)

    def fn(dens, fe):
        out = composite(samples, FieldOutput(fe, dens))
        return out.features, out.depth, out.opacity

    assert torch.autograd.gradcheck(fn, (density, feats))


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 9), min_size=1, max_size=12), seed=st.integers(0, 1000))
def test_exclusive_cumsum_packed_matches_loop(counts, seed):
    offsets = offsets_from_counts(torch.tensor(counts))
    ids = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    vals = torch.rand(int(sum(counts)), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = exclusive_cumsum_packed(vals, ids, offsets)
    want = torch.cat([torch.cumsum(vals[a:b], 0) - vals[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())] + [vals[:0]])
    torch.testing.assert_close(got, want)


def test_exclusive_cumsum_float32_stays_accurate_over_many_samples():
    n_rays, per_ray = 20000, 64  # 1.28 M samples, global sum ~ 6e6
    vals = torch.full((n_rays * per_ray,), 5.0)
    ids = torch.arange(n_rays).repeat_interleave(per_ray)
    got = exclusive_cumsum_packed(vals, ids, offsets_from_counts(torch.full((n_rays,), per_ray)))
    want = (torch.arange(per_ray, dtype=torch.float32) * 5.0).repeat(n_rays)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_weights_transmittance_identity():
    samples, density, _ = _random_packed(7)
    w = render_weights(samples, density.detach())
    torch.testing.assert_close(w.weights, w.transmittance * w.alphas)
    first = samples.ray_offsets[:-1][samples.ray_offsets[1:] > samples.ray_offsets[:-1]]
    torch.testing.assert_close(w.transmittance[first], torch.ones_like(w.transmittance[first]))


def test_empty_samples_and_errors():
    samples = _samples_from_lists([[], []])
    out = EmissionAbsorptionMarcher()(samples, FieldOutput(torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)))
    assert out.features.shape == (2, 4) and out.features.abs().sum() == 0 and out.num_samples == 0
    samples, density, feats = _random_packed(0)
    with pytest.raises(RenderInputError, match="density"):
        render_weights(samples, density[:-1])
    with pytest.raises(RenderInputError, match="features"):
        composite(samples, FieldOutput(feats[:-1], density))
    bad = density.detach().clone()
    bad[0] = math.nan
    with pytest.raises(RenderInputError, match="finite and >= 0"):
        render_weights(samples, bad)
    with pytest.raises(RenderInputError, match="finite and >= 0"):
        render_weights(samples, -density.detach())


def test_weighted_sum_along_rays_matches_segment_sum_and_gradchecks():
    samples, density, feats = _random_packed(3, num_rays=9, dim=4)
    w = density.detach().clone().requires_grad_(True)
    got = weighted_sum_along_rays(w, feats, samples.ray_indices, samples.ray_offsets)
    want = accumulate_along_rays(w[:, None] * feats, samples.ray_offsets)
    torch.testing.assert_close(got, want)
    g = torch.randn(got.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((got * g).sum(), (w, feats)), torch.autograd.grad((want * g).sum(), (w, feats))):
        torch.testing.assert_close(a, b)

    def fn(weights, values):
        return weighted_sum_along_rays(weights, values, samples.ray_indices, samples.ray_offsets)

    assert torch.autograd.gradcheck(fn, (w, feats))
    small = _random_packed(4, num_rays=3, dim=2)
    assert torch.autograd.gradgradcheck(
        lambda a, b: weighted_sum_along_rays(a, b, small[0].ray_indices, small[0].ray_offsets), (small[1], small[2])
    )
    empty = weighted_sum_along_rays(
        torch.zeros(0, dtype=torch.float64), torch.zeros(0, 4, dtype=torch.float64),
        torch.zeros(0, dtype=torch.long), torch.zeros(3, dtype=torch.long),
    )
    assert empty.shape == (2, 4) and empty.abs().sum() == 0
