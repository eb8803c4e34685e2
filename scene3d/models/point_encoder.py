"""A small PointNet++-style encoder of object point sets (plain PyTorch).

Per object: farthest-point sampling of centroids, k nearest neighbours of each centroid
(a ball query with k fixed), a shared MLP on the neighbours' offsets and colours, max
pooling per centroid (set abstraction), then a shared MLP on the centroids and max pooling
over the object. Invariant to the order of the points.
"""

from __future__ import annotations

import torch
from torch import nn


def farthest_point_sample(xyz: torch.Tensor, m: int, valid: torch.Tensor | None = None) -> torch.Tensor:
    """(O, m) long indices of ``m`` farthest-point samples of each of O point sets.

    Args:
        xyz: (O, P, 3) points.
        m: samples per set (m <= P; a set with fewer valid points repeats some).
        valid: (O, P) bool, False on padding (never sampled while a valid point is left).

    The first sample is the point farthest from the set's centroid, so the result does not
    depend on the order of the points (up to exact ties).
    """
    o, p, _ = xyz.shape
    valid = torch.ones(o, p, dtype=torch.bool, device=xyz.device) if valid is None else valid
    w = valid.float()[..., None]
    centroid = (xyz * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp(min=1)
    far = ((xyz - centroid) ** 2).sum(-1).masked_fill(~valid, -1.0)                   # (O, P)
    dist = torch.full((o, p), float("inf"), device=xyz.device).masked_fill(~valid, -1.0)
    idx = torch.empty(o, m, dtype=torch.long, device=xyz.device)
    current = far.argmax(1)
    rows = torch.arange(o, device=xyz.device)
    for k in range(m):
        idx[:, k] = current
        d = ((xyz - xyz[rows, current][:, None]) ** 2).sum(-1)
        dist = torch.where(valid, torch.minimum(dist, d), dist)
        current = dist.argmax(1)
    return idx


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
    return nn.Sequential(*layers)


class PointSetEncoder(nn.Module):
    """Object point sets -> one feature per object.

    Args:
        out_dim: width of the object feature.
        centroids: set-abstraction centroids per object (farthest-point samples).
        neighbours: points grouped around each centroid (k nearest).
        width: width of the first shared MLP.
    """

    def __init__(self, out_dim: int, centroids: int = 32, neighbours: int = 16, width: int = 64):
        super().__init__()
        self.centroids, self.neighbours = centroids, neighbours
        self.local = _mlp([6, width, 2 * width])                  # neighbour offset (3) + colour (3)
        self.globl = _mlp([2 * width + 3, 4 * width, out_dim])    # centroid feature + centroid position

    def forward(self, points: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """points (O, P, 6): xyz normalised to the object (centred, unit radius) + rgb in [0, 1];
        valid (O, P) bool. Returns (O, out_dim); an object without valid points gets zeros."""
        o, p, _ = points.shape
        xyz = points[..., :3]
        m, k = min(self.centroids, p), min(self.neighbours, p)
        rows = torch.arange(o, device=points.device)[:, None]
        centres = xyz[rows, farthest_point_sample(xyz, m, valid)]                         # (O, m, 3)
        d = torch.cdist(centres, xyz).masked_fill(~valid[:, None, :], float("inf"))       # (O, m, P)
        near = d.topk(k, dim=-1, largest=False).indices                                   # (O, m, k)
        group = points[rows[..., None], near]                                             # (O, m, k, 6)
        group = torch.cat([group[..., :3] - centres[:, :, None], group[..., 3:]], -1)
        local = self.local(group).amax(dim=2)                                              # (O, m, 2w)
        feature = self.globl(torch.cat([local, centres], -1)).amax(dim=1)                  # (O, out_dim)
        return feature * valid.any(1, keepdim=True).float()


def normalise_object_points(xyz: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """(P, 6) encoder input from one object's points: xyz (P, 3, metres) centred on their
    mean and scaled to unit max radius, rgb (P, 3) in [0, 1]."""
    c = xyz - xyz.mean(0, keepdim=True)
    return torch.cat([c / c.norm(dim=1).max().clamp(min=1e-6), rgb], -1)
