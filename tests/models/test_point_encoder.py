import numpy as np
import torch

from scene3d.models.point_encoder import PointSetEncoder, farthest_point_sample, normalise_object_points


def test_farthest_point_sample_on_a_line():
    x = torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12])
    xyz = torch.stack([x, torch.zeros_like(x), torch.zeros_like(x)], -1)[None]
    idx = farthest_point_sample(xyz, 3)[0].tolist()
    assert idx == [10, 0, 6]          # the end farthest from the centroid, the other end, the middle
    valid = torch.ones(1, 11, dtype=torch.bool)
    valid[0, 10] = False              # padding is never sampled
    assert farthest_point_sample(xyz, 3, valid)[0].tolist() == [0, 9, 4]  # ties go to the first index


def _shapes(n: int, p: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n point sets: even ones on a sphere, odd ones on a cube's surface; labels 0 / 1."""
    pts = rng.normal(size=(n, p, 3))
    pts /= np.linalg.norm(pts, axis=-1, keepdims=True)
    cube = rng.uniform(-1, 1, size=(n, p, 3))
    face = rng.integers(3, size=(n, p))
    np.put_along_axis(cube, face[..., None], np.sign(rng.uniform(-1, 1, size=(n, p, 1))), axis=-1)
    labels = np.arange(n) % 2
    pts[labels == 1] = cube[labels == 1]
    rgb = np.full((n, p, 3), 0.5)
    return torch.tensor(np.concatenate([pts, rgb], -1), dtype=torch.float32), torch.tensor(labels)


def test_encoder_is_order_invariant_ignores_padding_and_zeroes_empty_objects():
    torch.manual_seed(0)
    enc = PointSetEncoder(16, centroids=8, neighbours=4, width=8).eval()
    points, _ = _shapes(3, 40, np.random.default_rng(0))
    valid = torch.ones(3, 40, dtype=torch.bool)
    out = enc(points, valid)
    perm = torch.randperm(40)
    torch.testing.assert_close(enc(points[:, perm], valid), out)
    padded = torch.cat([points, torch.randn(3, 10, 6) * 50], 1)
    pvalid = torch.cat([valid, torch.zeros(3, 10, dtype=torch.bool)], 1)
    torch.testing.assert_close(enc(padded, pvalid), out)
    valid[1] = False
    assert torch.count_nonzero(enc(points, valid)[1]) == 0


def test_encoder_learns_to_tell_a_sphere_from_a_cube():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    enc = PointSetEncoder(16, centroids=8, neighbours=8, width=16)
    head = torch.nn.Linear(16, 2)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(40):
        points, labels = _shapes(16, 64, rng)
        loss = torch.nn.functional.cross_entropy(head(enc(points, torch.ones(16, 64, dtype=torch.bool))), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    points, labels = _shapes(64, 64, np.random.default_rng(99))
    with torch.no_grad():
        pred = head(enc(points, torch.ones(64, 64, dtype=torch.bool))).argmax(1)
    assert (pred == labels).float().mean() > 0.9


def test_normalise_object_points():
    xyz = torch.tensor([[1.0, 1.0, 1.0], [3.0, 1.0, 1.0]])
    out = normalise_object_points(xyz, torch.zeros(2, 3))
    torch.testing.assert_close(out[:, :3], torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
