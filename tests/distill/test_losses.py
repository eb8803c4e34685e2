"""Distillation losses: analytic wall cases, ray distances, visibility, gradcheck in float64."""

from __future__ import annotations

import math

import pytest
import torch

from scene3d.distill import (
    FeatureLoss,
    StudentOutput,
    Views,
    contrastive_loss,
    cosine_loss,
    projection_loss,
    ray_distance,
    render_losses,
    sample_pixels,
    visible_points,
)
from scene3d.render import Cameras
from scene3d.sparse import SparseTensor

VOX = 0.1
# camera at the origin looking along +x (OpenCV: x right = world -y, y down = world -z, z forward = world +x)
R = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _cameras(dtype=torch.float32, n=1) -> Cameras:
    pose = torch.eye(4, dtype=dtype)
    pose[:3, :3] = R.to(dtype)
    K = torch.tensor([[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]], dtype=dtype)
    return Cameras(K.expand(n, 3, 3).clone(), pose.expand(n, 4, 4).clone(), 8, 8)


def _wall(features: torch.Tensor | None = None, density: float = 200.0, dtype=torch.float32) -> StudentOutput:
    """A one-voxel-thick wall covering x in [2.0, 2.1), |y|, |z| < 1 m, constant feature per voxel."""
    j, k = torch.meshgrid(torch.arange(-10, 10), torch.arange(-10, 10), indexing="ij")
    coords = torch.stack([torch.zeros_like(j), torch.full_like(j, 20), j, k], dim=-1).reshape(-1, 4).int()
    m = coords.shape[0]
    feats = features if features is not None else torch.tensor([1.0, 2.0, 0.5], dtype=dtype).expand(m, 3).clone()
    st = SparseTensor(feats, coords, voxel_size=VOX)
    return StudentOutput(voxels=st, hidden=feats, density=torch.full((m,), density, dtype=dtype), voxel_size=VOX)


def _views(target: torch.Tensor, z: float = 2.0, dtype=torch.float32) -> Views:
    cams = _cameras(dtype)
    return Views(cameras=cams, features=target.to(dtype).expand(1, 8, 8, target.shape[0]).clone(),
                 valid=torch.ones(1, 8, 8, dtype=torch.bool), depth=torch.full((1, 8, 8), z, dtype=dtype),
                 has_depth=torch.tensor([True]))


def test_wall_renders_its_feature_and_depth():
    out = _wall()
    gen = torch.Generator().manual_seed(0)
    same = render_losses(out, _views(torch.tensor([1.0, 2.0, 0.5])), 64, 256, gen)
    assert same.num_rays == 64
    assert float(same.feature) < 1e-6
    # the surface is the wall's front face at x = 2.0; the tent density starts at sigma/2 there
    assert 0 < float(same.depth) < 0.02
    ortho = render_losses(out, _views(torch.tensor([2.0, -1.0, 0.0])), 64, 256, gen)
    torch.testing.assert_close(ortho.feature, torch.tensor(1.0), rtol=0, atol=1e-5)
    moved = render_losses(out, _views(torch.tensor([1.0, 2.0, 0.5]), z=2.5), 64, 256, gen)
    assert float(moved.depth) > 0.45  # true surface 0.5 m behind the wall along every ray (t >= z)


def test_ray_distance_is_z_times_the_ray_length():
    cams = _cameras()
    uv = torch.tensor([[4.0, 4.0], [12.0, 4.0], [12.0, 12.0]])
    t = ray_distance(cams, torch.zeros(3, dtype=torch.long), uv, torch.full((3,), 2.0))
    torch.testing.assert_close(t, torch.tensor([2.0, 2.0 * math.sqrt(2), 2.0 * math.sqrt(3)]))


def test_sample_pixels_draws_distinct_valid_pixels():
    valid = torch.zeros(2, 5, 7, dtype=torch.bool)
    valid[1, 2, 3] = valid[0, 4, 6] = valid[1, 0, 0] = True
    frame, pix = sample_pixels(valid, 10, torch.Generator().manual_seed(0))
    assert frame.numel() == 3
    assert valid[frame, pix[:, 1], pix[:, 0]].all()
    assert len({(int(f), int(u), int(v)) for f, (u, v) in zip(frame, pix)}) == 3


def test_visibility_and_projection_loss():
    out = _wall()
    front = torch.tensor([[2.0, 0.05, 0.05], [2.0, -0.3, 0.2]])
    behind = torch.tensor([[2.6, 0.05, 0.05]])
    views = _views(torch.tensor([1.0, 2.0, 0.5]))
    m = visible_points(views, torch.cat([front, behind]), tolerance=0.05)
    assert sorted(m.point_indices.tolist()) == [0, 1]
    assert float(projection_loss(out, views, front, 0.05, 100)) < 1e-6
    flipped = _views(torch.tensor([-1.0, -2.0, -0.5]))
    torch.testing.assert_close(projection_loss(out, flipped, front, 0.05, 100), torch.tensor(2.0))
    # no depth: the points' own z-buffer decides (the front points hide the one behind them)
    nodepth = Views(views.cameras, views.features, views.valid, torch.zeros(1, 8, 8), torch.tensor([False]))
    m = visible_points(nodepth, torch.cat([front[:1], behind]), tolerance=0.05)
    assert m.point_indices.tolist() == [0]


def test_occlusion_modes_and_the_whole_cloud_hides_a_drawn_point():
    # one voxel wall at x in [2.0, 2.1) and another at [2.6, 2.7), the same feature; a point on each, one pixel
    near, far = _wall(), _wall()
    far_coords = far.voxels.coords.clone()
    far_coords[:, 1] = 26
    feats = torch.cat([near.features, far.features])
    both = StudentOutput(voxels=SparseTensor(feats, torch.cat([near.voxels.coords, far_coords]), voxel_size=VOX),
                         hidden=feats, density=torch.cat([near.density, far.density]), voxel_size=VOX)
    pts = torch.tensor([[2.05, 0.05, 0.05], [2.65, 0.05, 0.05]])
    lying = _views(torch.tensor([1.0, 2.0, 0.5]), z=2.65)  # a depth map that sees through the near wall
    assert visible_points(lying, pts, 0.05, "depth").point_indices.tolist() == [1]
    assert visible_points(lying, pts, 0.05, "zbuffer").point_indices.tolist() == [0]
    assert sorted(visible_points(lying, pts, 0.05, "none").point_indices.tolist()) == [0, 1]
    with pytest.raises(ValueError, match="occlusion must be one of"):
        visible_points(lying, pts, 0.05, "rays")
    # the z-buffer is made of the occluders (the whole cloud), not of the points tested
    assert visible_points(lying, pts[1:], 0.05, "zbuffer").point_indices.tolist() == [0]
    assert visible_points(lying, pts[1:], 0.05, "zbuffer", occluders=pts).point_indices.numel() == 0
    # projection_loss draws one point: when it draws the far one, the near one (not drawn) still hides it
    flipped = _views(torch.tensor([-1.0, -2.0, -0.5]), z=2.65)
    seed = next(i for i in range(100) if int(torch.randperm(2, generator=torch.Generator().manual_seed(i))[0]) == 1)
    far_only = projection_loss(both, flipped, pts, 0.05, 1, torch.Generator().manual_seed(seed), occlusion="zbuffer")
    assert float(far_only) == 0.0  # nothing matched
    torch.testing.assert_close(projection_loss(both, flipped, pts, 0.05, 1, torch.Generator().manual_seed(seed)),
                               torch.tensor(2.0))  # the lying depth map matches the far point: a flipped target


def test_cosine_loss_of_nothing_is_zero():
    assert float(cosine_loss(torch.zeros(0, 3), torch.zeros(0, 3))) == 0.0


def test_contrastive_loss_by_hand():
    tau = 0.5
    anchors = torch.eye(3)
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    pred = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])  # row 0 points like its target, row 1 does not
    p = torch.softmax(target / tau, dim=-1)
    q = torch.softmax(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) / tau, dim=-1)
    rows = [-(p[r] * q[r].log()).sum() for r in range(2)]
    torch.testing.assert_close(contrastive_loss(pred, target, anchors, tau), (rows[0] + rows[1]) / 2)
    w = torch.tensor([1.0, 3.0])
    torch.testing.assert_close(contrastive_loss(pred, target, anchors, tau, w), (rows[0] + 3 * rows[1]) / 4)
    # at pred = target the student's distribution is the teacher's: the loss is its entropy, and a minimum
    x = target.clone().requires_grad_(True)
    loss = contrastive_loss(x, target, anchors, tau)
    torch.testing.assert_close(loss, -(p * p.log()).sum(dim=-1).mean())
    (grad,) = torch.autograd.grad(loss, x)
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-6, rtol=0)
    assert float(contrastive_loss(torch.zeros(0, 3), torch.zeros(0, 3), anchors, tau)) == 0.0


def test_contrastive_loss_gradcheck():
    torch.manual_seed(0)
    pred = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    target = torch.nn.functional.normalize(torch.randn(5, 4, dtype=torch.float64), dim=-1)
    anchors = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=-1)
    w = torch.rand(5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: contrastive_loss(x, target, anchors, 0.1, w), (pred,))


def test_text_loss_punishes_a_prediction_between_close_classes_more_than_cosine():
    # two class embeddings at cosine 0.87 (like chair / office chair); the student predicts their mean
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.87, math.sqrt(1 - 0.87 ** 2)])
    mid = torch.nn.functional.normalize(a + b, dim=0)[None]
    cosine = FeatureLoss("cosine")
    text = FeatureLoss("text", temperature=0.07, classes=torch.stack([a, b]))
    # excess over the loss of the right answer
    cos_excess = float(cosine(mid, a[None]) - cosine(a[None], a[None]))
    text_excess = float(text(mid, a[None]) - text(a[None], a[None]))
    assert cos_excess < 0.04 and text_excess > 5 * cos_excess  # 0.033 vs 0.30


def test_balanced_weights_count_each_teacher_class_once():
    classes = torch.eye(2)
    target = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]])  # three pairs of class 0, one of class 1
    pred = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # losses 0, 0, 1, 1
    plain = FeatureLoss("cosine", classes=classes)
    balanced = FeatureLoss("cosine", classes=classes, balance=True)
    torch.testing.assert_close(plain(pred, target), torch.tensor(0.5))
    torch.testing.assert_close(balanced(pred, target), torch.tensor((1 / 3 + 1) / 2))  # class means 1/3 and 1


def test_batch_loss_uses_the_steps_teacher_features_as_anchors():
    target = torch.eye(3)
    batch = FeatureLoss("batch", temperature=0.2, num_anchors=3)
    # all three targets drawn as anchors (any order): the same as contrastive_loss against them
    torch.testing.assert_close(batch(2 * target, target, torch.Generator().manual_seed(0)),
                               contrastive_loss(target, target, target, 0.2))


def test_feature_loss_rejects_bad_settings():
    with pytest.raises(ValueError, match="kind must be one of"):
        FeatureLoss("l2")
    with pytest.raises(ValueError, match="needs the class embeddings"):
        FeatureLoss("text")
    with pytest.raises(ValueError, match="needs the class embeddings"):
        FeatureLoss("cosine", balance=True)
    with pytest.raises(ValueError, match="temperature"):
        FeatureLoss("batch", temperature=0)


@pytest.mark.parametrize("which", ["feature", "depth"])
def test_render_losses_gradcheck(which):
    torch.manual_seed(0)
    coords = torch.tensor([[0, 20, 0, 0], [0, 20, 0, -1], [0, 20, -1, 0], [0, 21, 0, 0]], dtype=torch.int32)
    feats = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    density = (torch.rand(4, dtype=torch.float64) * 10 + 5).requires_grad_(True)
    target = torch.tensor([0.3, -1.0, 0.2])
    views = _views(target, z=2.02, dtype=torch.float64)

    def f(x, d):
        out = StudentOutput(SparseTensor(x.detach(), coords, voxel_size=VOX), x, d, VOX)
        losses = render_losses(out, views, 16, 64, torch.Generator().manual_seed(3))
        return getattr(losses, which)

    assert torch.autograd.gradcheck(f, (feats, density), eps=1e-6, atol=1e-6)


def test_student_output_renders_whole_views_in_chunks():
    out = _wall()
    cams = _cameras(n=2)
    whole = out.render(cams, num_samples=256)
    chunked = out.render(cams, num_samples=256, chunk=7)
    assert whole.features.shape == (2 * 64, 3)
    torch.testing.assert_close(chunked.features, whole.features)
    # every pixel of these cameras sees the wall (|y|, |z| <= 2 / 8 * 4 / 2 = 1 m at x = 2)
    assert float(whole.opacity.min()) > 0.99
    cos = torch.nn.functional.cosine_similarity(whole.features, torch.tensor([[1.0, 2.0, 0.5]]), dim=-1)
    torch.testing.assert_close(cos, torch.ones(128), rtol=0, atol=1e-5)
