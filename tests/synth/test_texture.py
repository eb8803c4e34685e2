"""The synthetic frames' surface texture: smooth, seeded value noise."""

import numpy as np

from scene3d.synth import SynthConfig, generate_scene
from scene3d.synth.raycast import value_noise


def test_value_noise_is_smooth_seeded_and_in_range():
    rng = np.random.default_rng(0)
    p = rng.uniform(-3, 3, (2000, 3))
    v = value_noise(p, 0.05)
    assert v.min() >= 0 and v.max() < 1 and v.std() > 0.1
    assert np.array_equal(v, value_noise(p, 0.05))  # deterministic
    assert np.abs(value_noise(p + 1e-4, 0.05) - v).max() < 0.02  # continuous
    assert np.corrcoef(v, value_noise(p, 0.05, seed=7))[0, 1] < 0.2  # seeds differ



def test_texture_only_changes_colours():
    flat = generate_scene("a", 3, config=SynthConfig(num_points=500, num_frames=1, texture=0.0))
    textured = generate_scene("a", 3, config=SynthConfig(num_points=500, num_frames=1))
    f0, f1 = flat.frames[0], textured.frames[0]
    assert np.array_equal(f0.depth, f1.depth) and np.array_equal(f0.instance, f1.instance)
    hit = f0.instance >= 0
    ratio = f1.rgb[hit].astype(float).sum(1) / np.maximum(f0.rgb[hit].astype(float).sum(1), 1)
    assert 0.7 < ratio.min() and ratio.max() < 1.3 and ratio.std() > 0.02


def _value_noise_reference(points, cell, seed=0):
    """The corner-by-corner form of the lattice noise (the hash computed per corner)."""
    q = points / cell
    base = np.floor(q).astype(np.int64)
    f = q - base
    f = f * f * (3.0 - 2.0 * f)
    out = np.zeros(len(points))
    for corner in range(8):
        d = np.array([(corner >> k) & 1 for k in range(3)])
        c = (base + d).astype(np.uint64)
        h = (c[:, 0] * np.uint64(73856093)) ^ (c[:, 1] * np.uint64(19349663)) ^ (c[:, 2] * np.uint64(83492791))
        h = (h ^ np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
        value = (h >> np.uint64(40)).astype(np.float64) / float(1 << 24)
        out += np.prod(np.where(d == 1, f, 1.0 - f), axis=1) * value
    return out


def test_value_noise_equals_the_per_corner_reference_bit_for_bit():
    p = np.random.default_rng(1).uniform(-3.0, 3.0, (5000, 3))  # negative cells too (uint64 wrap)
    for cell, seed in ((0.05, 0), (0.2, 1), (0.05, 12345)):
        assert np.array_equal(value_noise(p, cell, seed), _value_noise_reference(p, cell, seed))
