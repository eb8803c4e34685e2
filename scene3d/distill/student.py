"""The 3D student: a SparseUNet over the voxelised scene with a feature head and a density head.

Per voxel it predicts a ``D``-d feature (in the teacher's space) and a density (1/metre); together
they are the sparse feature field that ``scene3d.render`` ray-marches. Per-point features are read
back by trilinear devoxelisation, so any scene works, with or without frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scene3d.models.sparse_unet import SparseUNet, SparseUNetConfig
from scene3d.render import (
    Cameras,
    Rays,
    RenderOutput,
    SparseVoxelField,
    SparseVoxelGrid,
    composite,
    rays_from_cameras,
    sample_occupied,
)
from scene3d.sparse import SparseTensor, devoxelize, voxelize
from scene3d.structures import Scene


@dataclass
class StudentConfig:
    """Sizes of the student (a small MinkUNet14-style network by default, for CPU training)."""

    voxel_size: float = 0.05
    """Voxel edge in metres."""
    feature_dim: int = 384
    """Output feature width (= the teacher's ``dim``)."""
    hidden: int = 64
    """Width of the U-Net output that both heads read."""
    stem_channels: int = 32
    """Width of the stride-1 stem."""
    encoder_channels: tuple[int, ...] = (32, 64, 96, 128)
    """Width per encoder level (stride 2, 4, 8, 16)."""
    decoder_channels: tuple[int, ...] = (96, 96, 64, 48)
    """Width per decoder level (back to stride 1). The stride-1 level runs on every voxel and
    costs most of a step: 48 there (64 until 2026-12-02) trains 1.2-1.25x faster at the same
    held-out mIoU (benchmarks/RESULTS.md, issue 16 item 6)."""
    blocks: int = 1
    """Residual blocks per level."""
    normals: bool = False
    """Also feed each voxel's mean point normal (3 more input channels; the scenes must carry normals)."""
    density_bias: float = 2.0
    """Initial raw density: density = softplus(raw + bias) / voxel_size (about 43/m at 5 cm)."""

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(self.encoder_channels)
        self.decoder_channels = tuple(self.decoder_channels)
        if not self.voxel_size > 0:
            raise ValueError(f"StudentConfig.voxel_size must be > 0 metres, got {self.voxel_size}")

    @property
    def in_channels(self) -> int:
        """Input channels per voxel: RGB, height, and the normal if ``normals``."""
        return 7 if self.normals else 4

    def unet(self) -> SparseUNetConfig:
        levels = len(self.encoder_channels)
        return SparseUNetConfig(in_channels=self.in_channels, out_channels=self.hidden, stem_channels=self.stem_channels,
                                stem_kernel_size=3, encoder_channels=self.encoder_channels,
                                encoder_blocks=(self.blocks,) * levels, decoder_channels=self.decoder_channels,
                                decoder_blocks=(self.blocks,) * levels)


@dataclass
class StudentInput:
    """A scene prepared for the student.

    Attributes:
        voxels: stride-1 ``SparseTensor`` ``(N, 4)``: mean RGB in [0, 1] and height above the
            lowest point (metres) per voxel; ``voxel_size`` set.
        points: ``(P, 3)`` float32 point positions, metres (world z-up).
    """

    voxels: SparseTensor
    points: Tensor

    def to(self, device: torch.device | str) -> StudentInput:
        """The same input on ``device`` (the voxels get a fresh kernel-map cache there)."""
        if self.points.device == torch.device(device):
            return self
        return StudentInput(self.voxels.to(device), self.points.to(device))


@dataclass
class StudentOutput:
    """What :class:`DistillStudent` returns for one scene.

    The feature head is linear, so it commutes with every linear read-out of the voxels: a
    trilinear read of ``head(h)`` is ``head`` of the same read of ``[h, 1]`` (the constant channel
    carries the read's weight sum, which multiplies the bias), and so is a rendered feature (a
    weighted sum of such reads). :meth:`point_features` and the rendering read the ``H + 1``
    channels and apply the head to what they read (the P points or R rays the loss needs)
    instead of to all N voxels; :attr:`features` applies it to the voxels on first use.

    Attributes:
        voxels: the input sites (``coords (N, 4)`` int32, batch column 0).
        hidden: ``(N, H)`` per-voxel input of the feature head; the ``(N, D)`` features themselves
            when ``head_weight`` is None.
        density: ``(N,)`` per-voxel density, 1/metre, > 0; None when the density head was not run.
        voxel_size: metres.
        head_weight: ``(D, H)`` weight of the linear feature head (None: ``hidden`` already are
            the features); :class:`DistillStudent` gives views of its parameters made in
            ``forward``, so that DDP finds them used there.
        head_bias: ``(D,)`` its bias, or None.
    """

    voxels: SparseTensor
    hidden: Tensor
    density: Tensor | None
    voxel_size: float
    head_weight: Tensor | None = None
    head_bias: Tensor | None = None

    @cached_property
    def features(self) -> Tensor:
        """``(N, D)`` per-voxel features (not normalised); computed once."""
        return self.hidden if self.head_weight is None else F.linear(self.hidden, self.head_weight, self.head_bias)

    def apply_head(self, read: Tensor) -> Tensor:
        """The features from a linear read-out ``(..., H + 1)`` of :meth:`head_input` -> ``(..., D)``
        (the read itself, ``(..., D)``, when there is no head)."""
        if self.head_weight is None:
            return read
        out = F.linear(read[..., :-1], self.head_weight)
        return out if self.head_bias is None else out + read[..., -1:] * self.head_bias

    def head_input(self) -> Tensor:
        """``(N, H + 1)``: ``hidden`` and a constant 1 (``(N, D)`` features when there is no head);
        read it linearly, then :meth:`apply_head`."""
        if self.head_weight is None:
            return self.hidden
        return torch.cat([self.hidden, self.hidden.new_ones(self.hidden.shape[0], 1)], dim=1)

    def field(self, values: Tensor | None = None) -> SparseVoxelField:
        """The sparse field of ``scene3d.render`` on these voxels (gradients flow back): the
        ``(N, D)`` features, or ``values`` (``(N, C)``, e.g. :meth:`head_input`) with the density.

        Raises:
            ValueError: the output has no density (``forward(x, density=False)``).
        """
        if self.density is None:
            raise ValueError("this StudentOutput has no density: run the student with density=True to render")
        grid = SparseVoxelGrid(self.voxels.coords[:, 1:], self.voxel_size)
        return SparseVoxelField(grid, self.features if values is None else values, self.density, learnable=False)

    def render_rays(self, rays: Rays, num_samples: int, stratified: bool,
                    generator: torch.Generator | None = None) -> RenderOutput:
        """Ray-march ``R`` rays through the field: features ``(R, D)`` (the head applied to the
        rendered head input), depth and opacity ``(R,)``, as ``composite`` of :meth:`field`.

        Args:
            rays: ``R`` rays, world frame, metres.
            num_samples: candidate bins per ray over the grid's box (occupied ones are kept).
            stratified: jitter the samples within their bins (drawn from ``generator``).
        """
        return self._march(self.field(self.head_input()), rays, num_samples, stratified, generator)

    def _march(self, field: SparseVoxelField, rays: Rays, num_samples: int, stratified: bool,
               generator: torch.Generator | None = None) -> RenderOutput:
        samples = sample_occupied(rays, field.grid, num_samples, stratified=stratified, generator=generator)
        out = composite(samples, field(samples.positions(rays)))
        return replace(out, features=self.apply_head(out.features))

    def render(self, cameras: Cameras, num_samples: int = 256, chunk: int = 8192) -> RenderOutput:
        """Render every pixel of ``cameras`` (no jitter), in chunks of rays.

        Returns:
            ``RenderOutput`` with features ``(B*H*W, D)``, depth (ray distance, metres, unnormalised),
            opacity ``(B*H*W,)``; rays frame-major as in ``rays_from_cameras``.
        """
        field = self.field(self.head_input())
        rays = rays_from_cameras(cameras)
        parts = [self._march(field, Rays(rays.origins[i:i + chunk], rays.directions[i:i + chunk]), num_samples, False)
                 for i in range(0, rays.origins.shape[0], chunk)]
        return RenderOutput(features=torch.cat([p.features for p in parts]), depth=torch.cat([p.depth for p in parts]),
                            opacity=torch.cat([p.opacity for p in parts]), weights=torch.cat([p.weights for p in parts]),
                            num_samples=sum(p.num_samples for p in parts))

    def point_features(self, points: Tensor) -> Tensor:
        """``(P, D)`` features at ``points`` (metres), trilinear over the occupied voxels."""
        read = devoxelize(self.voxels.replace_features(self.head_input()), points, mode="trilinear")
        return self.apply_head(read)


def student_input(scene: Scene, voxel_size: float, normals: bool = False) -> StudentInput:
    """Voxelise a scene's points with input features: mean RGB in [0, 1], height above the lowest point
    (metres) and, if ``normals``, the mean of the points' unit normals (not renormalised: its length
    drops where a voxel straddles an edge) -> ``(N, 4)`` or ``(N, 7)`` voxel features.

    Raises:
        ValueError: the scene has no points, or ``normals`` and the scene carries none.
    """
    if scene.num_points == 0:
        raise ValueError(f"scene {scene.scene_id} has no points to voxelise")
    if normals and scene.normals is None:
        raise ValueError(f"scene {scene.scene_id} has no point normals (the student was configured with normals=true)")
    points = torch.from_numpy(np.ascontiguousarray(scene.points, dtype=np.float32))
    colors = torch.from_numpy(scene.colors.astype(np.float32) / 255.0)
    height = points[:, 2:3] - points[:, 2].min()
    feats = [colors, height] + ([torch.from_numpy(np.ascontiguousarray(scene.normals, dtype=np.float32))] if normals else [])
    voxels, _ = voxelize(points, voxel_size, torch.cat(feats, dim=1))
    return StudentInput(voxels=voxels, points=points)


def floor_turn(angle: float, mirror: bool = False) -> np.ndarray:
    """``(2, 2)`` float32 floor-plane matrix: a mirror of x (if ``mirror``), then a turn by ``angle``
    radians about the vertical (counter-clockwise seen from above)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]], dtype=np.float32) @ np.diag([-1 if mirror else 1, 1]).astype(np.float32)


def turned_scene(scene: Scene, matrix: np.ndarray, scale: float = 1.0) -> Scene:
    """``scene`` with its points (and normals) turned by the ``(2, 2)`` floor-plane ``matrix`` about the
    centre of the points' xy box, then scaled by ``scale`` about (that centre, the lowest point).
    Point order is kept; frames are not moved (their poses no longer match the points)."""
    xy = scene.points[:, :2]
    centre = np.array([*(xy.min(axis=0) + xy.max(axis=0)) / 2, scene.points[:, 2].min()], dtype=np.float32)
    points = scene.points.copy()
    points[:, :2] = (xy - centre[:2]) @ matrix.T + centre[:2]
    if scale != 1.0:
        points = (points - centre) * np.float32(scale) + centre
    normals = None
    if scene.normals is not None:
        normals = scene.normals.copy()
        normals[:, :2] = scene.normals[:, :2] @ matrix.T
    return replace(scene, points=points, normals=normals)


class DistillStudent(nn.Module):
    """SparseUNet -> (feature head, density head).

    Args:
        config: sizes; see :class:`StudentConfig`.
    """

    def __init__(self, config: StudentConfig | None = None):
        super().__init__()
        self.config = config or StudentConfig()
        self.backbone = SparseUNet(self.config.unet())
        self.feature_head = nn.Linear(self.config.hidden, self.config.feature_dim)
        self.density_head = nn.Linear(self.config.hidden, 1)

    def forward(self, x: StudentInput, density: bool = True) -> StudentOutput:
        """Features ``(N, D)`` and, if ``density``, densities ``(N,)`` on the voxels of one scene.

        ``density=False`` skips the density head (no rendering; under DDP its parameters then get
        no gradient and must not be an output).
        """
        h = self.backbone(x.voxels).voxel_features  # (N, hidden)
        sigma = None
        if density:
            raw = self.density_head(h.features)[:, 0]  # (N,)
            sigma = F.softplus(raw + self.config.density_bias) / self.config.voxel_size  # 1/m
        return StudentOutput(voxels=x.voxels, hidden=h.features, density=sigma, voxel_size=self.config.voxel_size,
                             head_weight=self.feature_head.weight.view_as(self.feature_head.weight),
                             head_bias=self.feature_head.bias.view_as(self.feature_head.bias))
