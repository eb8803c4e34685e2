"""``SparseTensor`` and the ``CoordinateManager`` that travels with it through a network."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from scene3d.sparse.coords import (
    KernelMap,
    SortedKeys,
    build_kernel_map,
    check_coordinate_bounds,
    downsample_coords,
    pack_keys,
)
from scene3d.sparse.errors import SparseCoordinateError, SparseTensorError


class CoordinateManager:
    """Coordinate sets per tensor stride and the kernel maps between them.

    One manager is created with the input ``SparseTensor`` and is shared (by
    reference) by every tensor a network derives from it, so each coordinate set and
    each kernel map is built once per forward pass, e.g. the stride-1 3x3x3
    submanifold map serves every such convolution of a U-Net, and the stride 1->2
    map built by the encoder is reused (transposed) by the decoder. There is no global
    state: a new input tensor gets a new manager.

    Kernel maps are cached by ``(in_stride, out_stride, kernel_size, dilation)``.

    Attributes:
        batch_size: number of batch elements ``B`` (batch indices lie in ``[0, B)``).
        voxel_size: edge of a stride-1 voxel in metres, or ``None`` if unknown.
        map_builds: how many kernel maps this manager has built (not fetched from cache).
        backend_cache: per-network state of optional backends (the spconv adapter keeps
            its grid origin and index dictionary here).
    """

    def __init__(self, batch_size: int, voxel_size: float | None = None):
        self.batch_size = batch_size
        self.voxel_size = voxel_size
        self.map_builds = 0
        self.backend_cache: dict[str, Any] = {}
        self._coords: dict[int, Tensor] = {}
        self._sorted: dict[int, SortedKeys] = {}
        self._maps: dict[tuple[int, int, int, int], KernelMap] = {}

    def strides(self) -> list[int]:
        """The tensor strides that have a coordinate set, ascending."""
        return sorted(self._coords)

    def coords(self, stride: int) -> Tensor:
        """The ``(N, 4)`` int32 coordinates at ``stride``.

        Raises:
            SparseCoordinateError: no tensor of this stride exists in this network.
        """
        if stride not in self._coords:
            raise SparseCoordinateError(
                f"no coordinates at tensor stride {stride} (known strides: {self.strides()}); "
                "a transposed convolution can only go back to a stride the network went through"
            )
        return self._coords[stride]

    def register(self, stride: int, coords: Tensor, name: str = "coords") -> None:
        """Record ``coords`` as the coordinate set at ``stride`` (checks uniqueness).

        Re-registering the same tensor is a no-op; a different set raises.
        """
        known = self._coords.get(stride)
        if known is not None:
            if known is coords or (known.shape == coords.shape and torch.equal(known, coords)):
                return
            raise SparseCoordinateError(
                f"{name}: this CoordinateManager already holds a different coordinate set at "
                f"stride {stride}; build a new SparseTensor without passing manager="
            )
        self._sorted[stride] = SortedKeys.build(coords, name)
        self._coords[stride] = coords

    def kernel_map(self, in_stride: int, out_stride: int, kernel_size: int, dilation: int) -> KernelMap:
        """The (cached) kernel map from the set at ``in_stride`` to the set at ``out_stride``.

        ``out_stride == in_stride``: submanifold map. ``out_stride > in_stride``: a
        downsampling map; the output set is created by ``downsample_coords`` if absent.
        ``out_stride < in_stride``: the transpose of the downsampling map
        ``out_stride -> in_stride`` with the same kernel size and dilation.
        """
        key = (in_stride, out_stride, kernel_size, dilation)
        kmap = self._maps.get(key)
        if kmap is not None:
            return kmap
        if out_stride < in_stride:
            kmap = self.kernel_map(out_stride, in_stride, kernel_size, dilation).transposed()
        else:
            if out_stride % in_stride != 0:
                raise SparseTensorError(
                    f"output stride {out_stride} must be a multiple of input stride {in_stride}"
                )
            in_coords = self.coords(in_stride)
            if out_stride not in self._coords:
                self.register(out_stride, downsample_coords(in_coords, out_stride))
            kmap = build_kernel_map(
                self._sorted[in_stride],
                self._coords[out_stride],
                n_in=in_coords.shape[0],
                kernel_size=kernel_size,
                dilation=dilation,
                in_stride=in_stride,
                submanifold=out_stride == in_stride,
            )
            self.map_builds += 1
        self._maps[key] = kmap
        return kmap

    def lookup(self, stride: int, coords: Tensor) -> Tensor:
        """Row of each ``(Q, 4)`` coordinate in the set at ``stride``; ``(Q,)`` int64, -1 = absent.

        The caller checks the bounds (``coords.check_coordinate_bounds``).
        """
        return self.lookup_keys(stride, pack_keys(coords))

    def lookup_keys(self, stride: int, keys: Tensor) -> Tensor:
        """Row of each packed int64 key (any shape) in the set at ``stride``; -1 = absent."""
        self.coords(stride)
        return self._sorted[stride].lookup(keys)


class SparseTensor:
    """A batch of sparse voxel features: features ``(N, C)`` at int32 coordinates ``(N, 4)``.

    Coordinates are ``(b, x, y, z)``: batch index first, then voxel indices on the
    stride-1 grid (world z-up; voxel ``v`` covers ``[v, v + 1) * voxel_size`` metres
    per axis). A tensor of stride ``s`` holds only multiples of ``s``: its voxel at
    ``c`` covers ``[c, c + s) * voxel_size``. Coordinates must be unique.

    Args:
        features: ``(N, C)`` floating-point features.
        coords: ``(N, 4)`` int32 coordinates ``(b, x, y, z)`` on ``features.device``.
        stride: tensor stride ``s >= 1`` (voxels of the stride-1 grid).
        manager: the ``CoordinateManager`` to share; a new one is made when ``None``.
        batch_size: number of batch elements; default ``max(b) + 1`` (0 when ``N == 0``).
            Ignored when ``manager`` is given (the manager's value is used).
        voxel_size: stride-1 voxel edge in metres (stored on a new manager).
    Raises:
        TypeError: a non-tensor, non-float features or non-int32 coordinates.
        SparseTensorError: wrong ranks, mismatched ``N``, devices or strides.
        SparseCoordinateError: coordinates out of range, duplicated or not multiples of ``stride``.
    """

    __slots__ = ("features", "coords", "stride", "manager")

    def __init__(
        self,
        features: Tensor,
        coords: Tensor,
        stride: int = 1,
        manager: CoordinateManager | None = None,
        batch_size: int | None = None,
        voxel_size: float | None = None,
    ):
        if not isinstance(features, Tensor):
            raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
        if not isinstance(coords, Tensor):
            raise TypeError(f"coords must be a torch.Tensor, got {type(coords).__name__}")
        if not features.is_floating_point():
            raise TypeError(f"features must be floating point, got {features.dtype}; use .float()")
        if coords.dtype != torch.int32:
            raise TypeError(f"coords must be int32, got {coords.dtype}; use .int()")
        if features.dim() != 2:
            raise SparseTensorError(f"features must be (N, C), got shape {tuple(features.shape)}")
        if coords.dim() != 2 or coords.shape[1] != 4:
            raise SparseTensorError(
                f"coords must be (N, 4) (batch, x, y, z), got shape {tuple(coords.shape)}"
            )
        if coords.shape[0] != features.shape[0]:
            raise SparseTensorError(
                f"features have {features.shape[0]} rows but coords have {coords.shape[0]}"
            )
        if coords.device != features.device:
            raise SparseTensorError(
                f"features are on {features.device} but coords on {coords.device}"
            )
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
            raise SparseTensorError(f"stride must be an int >= 1, got {stride!r}")
        check_coordinate_bounds(coords)
        if stride > 1 and coords.shape[0] > 0 and bool((coords[:, 1:] % stride != 0).any()):
            raise SparseCoordinateError(
                f"coords of a stride-{stride} tensor must be multiples of {stride}"
            )
        if manager is None:
            if batch_size is None:
                batch_size = int(coords[:, 0].max()) + 1 if coords.shape[0] > 0 else 0
            elif coords.shape[0] > 0 and int(coords[:, 0].max()) >= batch_size:
                raise SparseCoordinateError(
                    f"batch index {int(coords[:, 0].max())} >= batch_size {batch_size}"
                )
            manager = CoordinateManager(batch_size, voxel_size)
        manager.register(stride, coords)
        self.features = features
        self.coords = coords
        self.stride = stride
        self.manager = manager

    @classmethod
    def _derived(cls, features: Tensor, stride: int, manager: CoordinateManager) -> "SparseTensor":
        """A tensor at a stride the manager already knows (no checks; internal use)."""
        out = cls.__new__(cls)
        out.features = features
        out.coords = manager.coords(stride)
        out.stride = stride
        out.manager = manager
        return out

    def replace_features(self, features: Tensor) -> "SparseTensor":
        """Same coordinates, stride and manager with new ``(N, C')`` features."""
        if features.dim() != 2 or features.shape[0] != self.features.shape[0]:
            raise SparseTensorError(
                f"replacement features must be ({self.features.shape[0]}, C), got "
                f"{tuple(features.shape)}"
            )
        return SparseTensor._derived(features, self.stride, self.manager)

    @property
    def num_points(self) -> int:
        """Number of active sites ``N``."""
        return self.features.shape[0]

    @property
    def num_channels(self) -> int:
        """Number of feature channels ``C``."""
        return self.features.shape[1]

    @property
    def batch_size(self) -> int:
        """Number of batch elements ``B``."""
        return self.manager.batch_size

    @property
    def voxel_size(self) -> float | None:
        """Stride-1 voxel edge in metres (``None`` if the tensor was built without one)."""
        return self.manager.voxel_size

    @property
    def device(self) -> torch.device:
        """Device of features and coordinates."""
        return self.features.device

    def to(self, device: torch.device | str) -> "SparseTensor":
        """Copy to ``device`` with a fresh manager (kernel maps are rebuilt there)."""
        return SparseTensor(
            self.features.to(device),
            self.coords.to(device),
            stride=self.stride,
            batch_size=self.batch_size,
            voxel_size=self.voxel_size,
        )

    def __repr__(self) -> str:
        return (
            f"SparseTensor(N={self.num_points}, C={self.num_channels}, stride={self.stride}, "
            f"batch_size={self.batch_size}, dtype={self.features.dtype}, device={self.device})"
        )


def check_same_sites(a: SparseTensor, b: SparseTensor, what: str) -> None:
    """Raise ``SparseTensorError`` unless ``a`` and ``b`` share manager and stride (same rows)."""
    if a.manager is not b.manager or a.stride != b.stride:
        raise SparseTensorError(
            f"{what}: tensors must come from the same network input and stride "
            f"(strides {a.stride} and {b.stride}, same manager: {a.manager is b.manager})"
        )
