"""The sparse-convolution core: ``SparseTensor``, voxelization, kernel maps, layers.

Coordinates are int32 ``(b, x, y, z)`` voxel indices (batch first) on the stride-1 grid
of edge ``voxel_size`` metres (world z-up); features are ``(N, C)``. See
``docs/sparse.md`` for the design, the weight layout and measured speed.
spconv is an optional backend (``scene3d.sparse.spconv_adapter``), never imported here.
"""

from scene3d.sparse.coords import KernelMap, kernel_offsets
from scene3d.sparse.errors import SparseCoordinateError, SparseTensorError
from scene3d.sparse.functional import (
    CONV_ALGORITHMS,
    ConvAlgorithm,
    global_pool,
    sparse_avg_pool,
    sparse_cat,
    sparse_conv,
    sparse_max_pool,
)
from scene3d.sparse.modules import (
    SparseActivation,
    SparseAvgPool3d,
    SparseBatchNorm,
    SparseConv3d,
    SparseConvTranspose3d,
    SparseGlobalPool,
    SparseLinear,
    SparseMaxPool3d,
    SparseReLU,
    SubMConv3d,
    weight_from_dense,
    weight_to_dense,
)
from scene3d.sparse.tensor import CoordinateManager, SparseTensor
from scene3d.sparse.voxelize import devoxelize, voxelize

__all__ = [
    "CONV_ALGORITHMS",
    "ConvAlgorithm",
    "CoordinateManager",
    "KernelMap",
    "SparseActivation",
    "SparseAvgPool3d",
    "SparseBatchNorm",
    "SparseConv3d",
    "SparseConvTranspose3d",
    "SparseCoordinateError",
    "SparseGlobalPool",
    "SparseLinear",
    "SparseMaxPool3d",
    "SparseReLU",
    "SparseTensor",
    "SparseTensorError",
    "SubMConv3d",
    "devoxelize",
    "global_pool",
    "kernel_offsets",
    "sparse_avg_pool",
    "sparse_cat",
    "sparse_conv",
    "sparse_max_pool",
    "voxelize",
    "weight_from_dense",
    "weight_to_dense",
]
