"""Neural network modules of scene3d."""

from scene3d.models.grounding import GroundingConfig, GroundingEnsemble, GroundingOutput, GroundingTransformer
from scene3d.models.sparse_unet import SparseUNet, SparseUNetConfig, SparseUNetOutput
from scene3d.models.text_encoder import TextEncoder, TextEncoding, minilm_text_encoder

__all__ = ["GroundingConfig", "GroundingEnsemble", "GroundingOutput", "GroundingTransformer", "SparseUNet", "SparseUNetConfig",
           "SparseUNetOutput", "TextEncoder", "TextEncoding", "minilm_text_encoder"]
