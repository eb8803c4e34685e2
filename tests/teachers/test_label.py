"""The label-embedding teacher: exact when uncorrupted, deterministic per view, corruption as configured."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from scene3d.teachers import LabelTeacherConfig, TeacherError, gaussian_blur
from tests.distill._helpers import fake_teacher, tiny_scenes


@pytest.fixture(scope="module")
def scene():
    return tiny_scenes(1)[0]


def test_uncorrupted_map_is_the_class_embedding(scene):
    teacher = fake_teacher(swap_prob=0, noise=0, blur_sigma=0, dropout=0, downscale=2)
    frame = scene.frames[0]
    out = teacher(scene, frame)
    inst = frame.instance[1::2, 1::2]
    assert out.features.shape == (30, 40, teacher.dim)
    labels = {o.object_id: o.label for o in scene.objects}
    for (r, c) in [(5, 7), (20, 30), (29, 0)]:
        oid = int(inst[r, c])
        if oid >= 0:
            torch.testing.assert_close(out.features[r, c], teacher.embed_text([labels[oid]])[0])
    np.testing.assert_array_equal(out.valid.numpy(), inst >= 0)
    assert (out.features[~out.valid] == 0).all()


def test_deterministic_per_view_and_views_differ(scene):
    teacher = fake_teacher(swap_prob=0.5, noise=0.3, blur_sigma=1.0, dropout=0.2)
    a, b = teacher(scene, scene.frames[0]), teacher(scene, scene.frames[0])
    torch.testing.assert_close(a.features, b.features, rtol=0, atol=0)
    other = fake_teacher(swap_prob=0.5, noise=0.3, blur_sigma=1.0, dropout=0.2, seed=1)(scene, scene.frames[0])
    assert not torch.equal(a.features, other.features)
    valid = a.valid
    torch.testing.assert_close(a.features[valid].norm(dim=-1), torch.ones(int(valid.sum())))


def test_swaps_and_dropout(scene):
    frame = scene.frames[0]
    always = fake_teacher(swap_prob=1.0, noise=0, blur_sigma=0, dropout=0)(scene, frame)
    clean = fake_teacher(swap_prob=0.0, noise=0, blur_sigma=0, dropout=0)(scene, frame)
    same = (always.features * clean.features).sum(-1)[clean.valid]
    assert (same < 0.999).all()  # every object has another class
    dropped = fake_teacher(swap_prob=0, noise=0, blur_sigma=0, dropout=0.5)(scene, frame)
    frac = 1 - dropped.valid.sum() / clean.valid.sum()
    assert 0.4 < float(frac) < 0.6


def test_gaussian_blur_of_a_delta_is_the_kernel():
    x = torch.zeros(2, 21, 21)
    x[:, 10, 10] = 1.0
    out = gaussian_blur(x, 1.5)
    r = torch.arange(-10, 11, dtype=torch.float32)
    g = torch.exp(-0.5 * (r / 1.5) ** 2)
    g[(r.abs() > 5)] = 0  # radius ceil(3 sigma) = 5
    g = g / g.sum()
    torch.testing.assert_close(out[0], torch.outer(g, g), rtol=0, atol=1e-6)
    torch.testing.assert_close(out.sum(), torch.tensor(2.0))


def test_errors(scene):
    frame = scene.frames[0]
    no_mask = type(frame)(name="x", rgb=frame.rgb, K=frame.K, cam_to_world=frame.cam_to_world)
    with pytest.raises(TeacherError, match="instance mask"):
        fake_teacher()(scene, no_mask)
    with pytest.raises(TeacherError, match="divisible"):
        fake_teacher(downscale=7)(scene, frame)
    with pytest.raises(ValueError, match="swap_prob"):
        LabelTeacherConfig(swap_prob=2.0)


def test_map_is_bit_identical_to_before_the_mean_feature_path(scene):
    """Distillation trains on these maps: the refactor that gave image queries ``mean_feature`` must not
    change a bit of them. The digest was computed with main at a75813f (before the refactor)."""
    import hashlib

    teacher = fake_teacher()
    digest = hashlib.sha256()
    for frame in scene.frames:
        teacher.mean_feature(scene, frame)  # the query path first: it must not disturb the map
        out = teacher(scene, frame)
        digest.update(out.features.numpy().tobytes())
        digest.update(out.valid.numpy().tobytes())
    assert digest.hexdigest() == "5372845abdb61c84122e2f857cf70ce42f2690bcd9a64d5e1b26ae67d267fc90"


def test_mean_feature_is_the_maps_mean_without_the_map(scene):
    from scene3d.teachers import map_mean

    exact = fake_teacher(swap_prob=0.5, noise=0, blur_sigma=0, dropout=0)
    noisy = fake_teacher(swap_prob=0.5)
    for frame in scene.frames:
        # uncorrupted apart from the swaps (which both paths draw alike): the same vector
        torch.testing.assert_close(exact.mean_feature(scene, frame), map_mean(exact(scene, frame)), rtol=0, atol=1e-5)
        # with noise, blur and dropout: their expectation, close to the map's mean (here 16-d fake features
        # on 30 x 40 maps, so the noise averages out less than on 384-d 120 x 160 maps: 0.9976 at worst)
        mean = noisy.mean_feature(scene, frame)
        assert float(mean @ map_mean(noisy(scene, frame))) > 0.99 and abs(float(mean.norm()) - 1) < 1e-5
    empty = dataclasses.replace(scene.frames[0], instance=np.full_like(scene.frames[0].instance, -1))
    assert not noisy.mean_feature(scene, empty).any()
    with pytest.raises(TeacherError, match="instance mask"):
        noisy.mean_feature(scene, dataclasses.replace(scene.frames[0], instance=None))


def test_class_names_come_from_the_store_without_loading_minilm(scene, tmp_path, monkeypatch):
    from scene3d.teachers import label_embedding_teacher

    monkeypatch.setenv("SCENE3D_CACHE_DIR", str(tmp_path))
    first = label_embedding_teacher()(scene, scene.frames[0])        # encodes with MiniLM, keeps the names
    teacher = label_embedding_teacher()                               # as in a new process
    again = teacher(scene, scene.frames[0])
    assert teacher._encoder is None                                   # MiniLM never loaded
    torch.testing.assert_close(again.features, first.features, rtol=0, atol=0)
