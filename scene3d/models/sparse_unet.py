"""SparseUNet: a MinkUNet14/18/34-style residual sparse encoder-decoder.

Input: a stride-1 ``SparseTensor`` (from ``scene3d.sparse.voxelize``); output: voxel
features at the input sites and, when points are given, per-point features by
``devoxelize``. Layout (``L = len(encoder_channels)`` levels, 4 for MinkUNet)::

    stem      SubM k5 in->stem, BN, ReLU                          stride 1
    enc i     SparseConv k2 s2, BN, ReLU, then blocks_i x BasicBlock  -> stride 2^(i+1)
    dec i     ConvTranspose k2 s2, BN, ReLU, concat skip, blocks x BasicBlock -> stride 2^(L-1-i)
    head      per-site linear dec[-1] -> out_channels

``BasicBlock`` = SubM3-BN-ReLU-SubM3-BN + residual (1x1 linear + BN when widths differ) -> ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from scene3d.sparse import (
    ConvAlgorithm,
    SparseBatchNorm,
    SparseConv3d,
    SparseConvTranspose3d,
    SparseLinear,
    SparseReLU,
    SparseTensor,
    SparseTensorError,
    SubMConv3d,
    devoxelize,
    sparse_cat,
)


@dataclass
class SparseUNetConfig:
    """Widths and depths of a ``SparseUNet`` (defaults = MinkUNet18A)."""

    in_channels: int = 3
    """Input feature channels per voxel (3 for RGB in [0, 1], or xyz in metres)."""
    out_channels: int = 96
    """Channels of the output voxel and point features."""
    stem_channels: int = 32
    """Width of the stride-1 stem (MinkUNet ``INIT_DIM``)."""
    stem_kernel_size: int = 5
    """Edge of the stem's submanifold kernel (voxels)."""
    encoder_channels: tuple[int, ...] = (32, 64, 128, 256)
    """Width of encoder level ``i`` (at stride ``2**(i+1)``)."""
    encoder_blocks: tuple[int, ...] = (2, 2, 2, 2)
    """Residual blocks of encoder level ``i``."""
    decoder_channels: tuple[int, ...] = (128, 128, 96, 96)
    """Width of decoder level ``i`` (at stride ``2**(L-1-i)``; the last is stride 1)."""
    decoder_blocks: tuple[int, ...] = (2, 2, 2, 2)
    """Residual blocks of decoder level ``i``."""
    devoxelize_mode: Literal["nearest", "trilinear"] = "trilinear"
    """How per-point features are read from the stride-1 voxels."""
    bn_momentum: float = 0.1
    """Momentum of every batch norm."""
    algorithm: ConvAlgorithm = "gather_scatter"
    """Sparse convolution algorithm (``scene3d.sparse.CONV_ALGORITHMS``)."""

    def __post_init__(self) -> None:
        levels = len(self.encoder_channels)
        if levels == 0:
            raise ValueError("encoder_channels must name at least one level")
        for name in ("encoder_blocks", "decoder_channels", "decoder_blocks"):
            if len(getattr(self, name)) != levels:
                raise ValueError(
                    f"SparseUNetConfig.{name} has {len(getattr(self, name))} entries, "
                    f"encoder_channels has {levels}; give one per level"
                )
        widths = (self.in_channels, self.out_channels, self.stem_channels, *self.encoder_channels,
                  *self.decoder_channels)
        if min(widths) < 1 or min(self.encoder_blocks + self.decoder_blocks) < 1:
            raise ValueError("SparseUNetConfig: every width and block count must be >= 1")

    @classmethod
    def minkunet14(cls, **overrides) -> "SparseUNetConfig":
        """MinkUNet14A: one block per level."""
        return cls(**{"encoder_blocks": (1, 1, 1, 1), "decoder_blocks": (1, 1, 1, 1), **overrides})

    @classmethod
    def minkunet18(cls, **overrides) -> "SparseUNetConfig":
        """MinkUNet18A: two blocks per level."""
        return cls(**overrides)

    @classmethod
    def minkunet34(cls, **overrides) -> "SparseUNetConfig":
        """MinkUNet34C: encoder blocks (2, 3, 4, 6), decoder widths (256, 128, 96, 96)."""
        base = {"encoder_blocks": (2, 3, 4, 6), "decoder_channels": (256, 128, 96, 96)}
        return cls(**{**base, **overrides})


@dataclass
class SparseUNetOutput:
    """What ``SparseUNet.forward`` returns."""

    voxel_features: SparseTensor
    """``(N, out_channels)`` at the input's stride-1 sites (same coordinates and manager)."""
    point_features: Tensor | None = field(default=None)
    """``(P, out_channels)`` per-point features when points were given, else ``None``."""


def _conv_bn_relu(conv: nn.Module, channels: int, momentum: float) -> nn.Sequential:
    return nn.Sequential(conv, SparseBatchNorm(channels, momentum=momentum), SparseReLU())


class BasicBlock(nn.Module):
    """Residual block: SubM3-BN-ReLU-SubM3-BN plus a (projected) shortcut, then ReLU.

    Args:
        in_channels, out_channels: widths; a 1x1 linear + BN projects the shortcut if they differ.
        momentum: batch-norm momentum.
        algorithm: sparse convolution algorithm.
    """

    def __init__(self, in_channels: int, out_channels: int, momentum: float, algorithm: ConvAlgorithm):
        super().__init__()
        self.conv1 = SubMConv3d(in_channels, out_channels, 3, algorithm=algorithm)
        self.bn1 = SparseBatchNorm(out_channels, momentum=momentum)
        self.conv2 = SubMConv3d(out_channels, out_channels, 3, algorithm=algorithm)
        self.bn2 = SparseBatchNorm(out_channels, momentum=momentum)
        self.relu = SparseReLU()
        self.shortcut = (
            nn.Sequential(SparseLinear(in_channels, out_channels, bias=False),
                          SparseBatchNorm(out_channels, momentum=momentum))
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: SparseTensor) -> SparseTensor:
        """``(N, C_in) -> (N, C_out)`` on the same sites."""
        h = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return h.replace_features((h.features + self.shortcut(x).features).relu())


def _blocks(in_channels: int, out_channels: int, n: int, momentum: float, algorithm: ConvAlgorithm) -> nn.Sequential:
    return nn.Sequential(
        *[BasicBlock(in_channels if i == 0 else out_channels, out_channels, momentum, algorithm) for i in range(n)]
    )


class SparseUNet(nn.Module):
    """Residual sparse U-Net (MinkUNet family); see the module docstring for the layout.

    Args:
        config: widths, depths and options.
    """

    def __init__(self, config: SparseUNetConfig | None = None):
        super().__init__()
        cfg = config or SparseUNetConfig()
        self.config = cfg
        m, alg = cfg.bn_momentum, cfg.algorithm
        self.stem = _conv_bn_relu(
            SubMConv3d(cfg.in_channels, cfg.stem_channels, cfg.stem_kernel_size, algorithm=alg),
            cfg.stem_channels, m,
        )
        self.down = nn.ModuleList()
        self.encoder = nn.ModuleList()
        skip_widths = [cfg.stem_channels]
        width = cfg.stem_channels
        for ch, n in zip(cfg.encoder_channels, cfg.encoder_blocks):
            self.down.append(_conv_bn_relu(SparseConv3d(width, width, 2, 2, algorithm=alg), width, m))
            self.encoder.append(_blocks(width, ch, n, m, alg))
            width = ch
            skip_widths.append(ch)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i, (ch, n) in enumerate(zip(cfg.decoder_channels, cfg.decoder_blocks)):
            skip = skip_widths[-2 - i]
            self.up.append(_conv_bn_relu(SparseConvTranspose3d(width, ch, 2, 2, algorithm=alg), ch, m))
            self.decoder.append(_blocks(ch + skip, ch, n, m, alg))
            width = ch
        self.head = SparseLinear(width, cfg.out_channels)

    def forward(self, x: SparseTensor, points: Tensor | None = None, batch: Tensor | None = None) -> SparseUNetOutput:
        """Run the network.

        Args:
            x: stride-1 input ``(N, in_channels)`` with ``x.voxel_size`` set if points are given.
            points: optional ``(P, 3)`` xyz in metres to read per-point features at.
            batch: ``(P,)`` batch index of each point (default all 0).
        Returns:
            ``SparseUNetOutput`` with ``voxel_features`` ``(N, out_channels)`` and
            ``point_features`` ``(P, out_channels)`` or ``None``.
        """
        if x.stride != 1:
            raise SparseTensorError(f"SparseUNet expects a stride-1 input, got stride {x.stride}")
        h = self.stem(x)  # (N, stem) stride 1
        skips = [h]
        for down, enc in zip(self.down, self.encoder):
            h = enc(down(h))  # (N_i, enc_i) stride 2^(i+1)
            skips.append(h)
        for i, (up, dec) in enumerate(zip(self.up, self.decoder)):
            h = up(h)  # (N_j, dec_i) at the skip's stride
            h = dec(sparse_cat([h, skips[-2 - i]]))  # (N_j, dec_i)
        out = self.head(h)  # (N, out_channels) stride 1
        point_features = None
        if points is not None:
            point_features = devoxelize(out, points, batch, mode=self.config.devoxelize_mode)
        return SparseUNetOutput(voxel_features=out, point_features=point_features)
