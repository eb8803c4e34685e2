"""Neural network modules of scene3d."""

from scene3d.models.sparse_unet import SparseUNet, SparseUNetConfig, SparseUNetOutput

__all__ = ["SparseUNet", "SparseUNetConfig", "SparseUNetOutput"]
