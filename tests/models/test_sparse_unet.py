"""SparseUNet: shapes, determinism, configs, and a 20-step overfit wiring check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from scene3d.models import SparseUNet, SparseUNetConfig, SparseUNetOutput
from scene3d.sparse import SparseTensorError, voxelize


@pytest.fixture(autouse=True)
def single_intra_op_thread() -> Iterator[None]:
    """One intra-op thread (restored after): tiny tensors, and on a shared 2-core runner
    OpenMP barriers waiting for a descheduled thread made the overfit test 20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


SMALL = dict(
    stem_channels=16,
    encoder_channels=(16, 32, 32, 48),
    decoder_channels=(32, 32, 24, 24),
)


def labelled_room(gen: torch.Generator, n: int = 5000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A floor plane (class 0) and three boxes of classes 1-3, sampled on their surfaces.

    Returns ``points (n, 3)`` metres in a 2 m x 2 m room (z up), ``colors (n, 3)`` in
    [0, 1] (uninformative noise around grey) and ``labels (n,)`` int64.
    """
    boxes = [  # (min corner, size, class)
        (torch.tensor([0.2, 0.2, 0.0]), torch.tensor([0.4, 0.4, 0.6]), 1),
        (torch.tensor([1.2, 0.3, 0.0]), torch.tensor([0.6, 0.3, 0.3]), 2),
        (torch.tensor([0.6, 1.3, 0.0]), torch.tensor([0.3, 0.5, 0.9]), 3),
    ]
    n_floor = n // 2
    floor = torch.rand(n_floor, 3, generator=gen) * torch.tensor([2.0, 2.0, 0.0])
    pts, labels = [floor], [torch.zeros(n_floor, dtype=torch.int64)]
    per_box = (n - n_floor) // len(boxes)
    for lo, size, cls in boxes:
        p = torch.rand(per_box, 3, generator=gen)
        face = torch.randint(0, 5, (per_box,), generator=gen)  # 4 sides + top
        axis = torch.where(face == 4, 2, face % 2)
        side = torch.where(face == 4, 1.0, (face // 2).float())
        p[torch.arange(per_box), axis] = side
        pts.append(lo + p * size)
        labels.append(torch.full((per_box,), cls, dtype=torch.int64))
    points = torch.cat(pts)
    colors = (0.5 + 0.05 * torch.randn(points.shape, generator=gen)).clamp(0, 1)
    return points, colors, torch.cat(labels)


def test_output_shapes_and_dataclass() -> None:
    gen = torch.Generator().manual_seed(0)
    points, colors, _ = labelled_room(gen, 2000)
    x, inv = voxelize(points, 0.05, colors)
    net = SparseUNet(SparseUNetConfig.minkunet14(out_channels=7, **SMALL))
    out = net(x, points)
    assert isinstance(out, SparseUNetOutput)
    assert out.voxel_features.features.shape == (x.num_points, 7)
    assert out.voxel_features.coords is x.coords
    assert out.point_features.shape == (points.shape[0], 7)
    assert net(x).point_features is None
    # maps: stem k5 and k3 at stride 1, per level down s->2s and k3 at 2s; up maps are reused
    assert x.manager.map_builds == 2 + 2 * 4


def test_deterministic_given_seed() -> None:
    gen = torch.Generator().manual_seed(1)
    points, colors, _ = labelled_room(gen, 1500)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = SparseUNet(SparseUNetConfig.minkunet14(**SMALL))
        x, _ = voxelize(points, 0.05, colors)
        outs.append(net(x, points).point_features)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_configs() -> None:
    assert SparseUNetConfig.minkunet14().encoder_blocks == (1, 1, 1, 1)
    assert SparseUNetConfig.minkunet18().encoder_blocks == (2, 2, 2, 2)
    c34 = SparseUNetConfig.minkunet34(out_channels=20)
    assert c34.encoder_blocks == (2, 3, 4, 6) and c34.out_channels == 20
    with pytest.raises(ValueError, match="decoder_channels"):
        SparseUNetConfig(decoder_channels=(8, 8))
    x, _ = voxelize(torch.rand(50, 3), 0.1)
    down = SparseUNet(SparseUNetConfig.minkunet14(**SMALL)).down[0](x.replace_features(torch.zeros(x.num_points, 16)))
    with pytest.raises(SparseTensorError, match="stride-1"):
        SparseUNet(SparseUNetConfig.minkunet14(in_channels=16, **SMALL))(down)


def test_overfits_synthetic_room_in_20_steps() -> None:
    """Wiring check: segment floor vs three boxes from geometry alone (colours are noise)."""
    gen = torch.Generator().manual_seed(2)
    points, colors, labels = labelled_room(gen, 5000)
    torch.manual_seed(0)
    net = SparseUNet(SparseUNetConfig.minkunet14(out_channels=4, devoxelize_mode="nearest", **SMALL))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(20):
        x, _ = voxelize(points, 0.04, colors)
        logits = net(x, points).point_features
        loss = torch.nn.functional.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9, f"train accuracy {accuracy:.3f} after 20 steps (loss {loss.item():.3f})"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_backward_matches_cpu() -> None:
    gen = torch.Generator().manual_seed(3)
    points, colors, _ = labelled_room(gen, 3000)
    torch.manual_seed(0)
    net = SparseUNet(SparseUNetConfig.minkunet14(**SMALL)).eval()
    ref = net(voxelize(points, 0.05, colors)[0], points).point_features
    net = net.cuda()
    x, _ = voxelize(points.cuda(), 0.05, colors.cuda())
    out = net(x, points.cuda()).point_features
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-4)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in net.parameters() if p.requires_grad)
