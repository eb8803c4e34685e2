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
