"""The grounding transformer (GPS-style): object tokens with pairwise geometric
attention, fused with the sentence's tokens, scored per object.

Read top to bottom: embed objects -> L x [spatial self-attention (its pair-geometry
bias weighted by the sentence), cross-attention to text, MLP] -> per-object referral score, plus a learned multiple of how well
the object's class name matches the class the sentence asks for (the target-class
head, trained by its own loss); projections for the object-text and scene-text
contrastive losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GroundingConfig:
    """Sizes of :class:`GroundingTransformer`.

    Attributes:
        dim: width of object tokens.
        layers: fusion layers.
        heads: attention heads.
        text_dim: width of the text encoder's features (384 for all-MiniLM-L6-v2).
        dropout: dropout in attention and MLPs.
    """

    dim: int = 192
    layers: int = 3
    heads: int = 6
    text_dim: int = 384
    dropout: float = 0.1


@dataclass
class GroundingOutput:
    """Model outputs for B (scene, sentence) pairs with N object slots.

    Attributes:
        logits: (B, N) referral scores (-inf on padding).
        object_embed: (B, N, text_dim) unimodal object embeddings, L2-normalised (for
            object-caption alignment).
        scene_embed: (B, text_dim) pooled scene embedding, L2-normalised.
        class_query: (B, text_dim) the sentence's guess of the target class, L2-normalised
            (compared with class-name embeddings).
    """

    logits: torch.Tensor
    object_embed: torch.Tensor
    scene_embed: torch.Tensor
    class_query: torch.Tensor


def pair_features(centers: torch.Tensor) -> torch.Tensor:
    """(B, N, N, 7) geometry of each object pair: offset (3), horizontal and 3D distance,
    and the horizontal direction's cos / sin."""
    d = centers[:, None, :, :] - centers[:, :, None, :]                  # (B, N, N, 3) from i to j
    dist_xy = torch.linalg.norm(d[..., :2], dim=-1, keepdim=True)
    dist = torch.linalg.norm(d, dim=-1, keepdim=True)
    direction = d[..., :2] / dist_xy.clamp(min=1e-6)
    return torch.cat([d, dist_xy, dist, direction], dim=-1)


class SpatialSelfAttention(nn.Module):
    """Multi-head self-attention whose scores get a learned bias from pair geometry.

    With ``text_dim``, the bias is conditioned on the sentence (as in ViL3DRel): each head
    weighs the pair-geometry features with weights predicted from the sentence, so "left
    of" and "above" look at different geometry.
    """

    def __init__(self, dim: int, heads: int, dropout: float, text_dim: int | None = None, pair_dim: int = 32):
        super().__init__()
        self.heads, self.head_dim, self.pair_dim = heads, dim // heads, pair_dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.pair = nn.Sequential(nn.Linear(7, pair_dim), nn.GELU(), nn.Linear(pair_dim, pair_dim))
        self.head_weights = nn.Linear(text_dim, heads * pair_dim) if text_dim else None
        self.fixed_weights = None if text_dim else nn.Parameter(torch.randn(heads, pair_dim) / math.sqrt(pair_dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pairs: torch.Tensor, mask: torch.Tensor,
                text_pooled: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)                          # (B, H, N, N)
        phi = self.pair(pairs)                                                                 # (B, N, N, P)
        if self.head_weights is not None:
            w = self.head_weights(text_pooled).view(b, self.heads, self.pair_dim)             # (B, H, P)
        else:
            w = self.fixed_weights.expand(b, -1, -1)
        scores = scores + torch.einsum("bijp,bhp->bhij", phi, w)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        attn = self.drop(scores.softmax(-1))
        y = (attn @ v).transpose(1, 2).reshape(b, n, -1)                                       # (B, N, D)
        return self.out(y)


class FusionLayer(nn.Module):
    """Pre-norm: spatial self-attention, cross-attention to text tokens, MLP."""

    def __init__(self, cfg: GroundingConfig):
        super().__init__()
        d = cfg.dim
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.spatial = SpatialSelfAttention(d, cfg.heads, cfg.dropout, text_dim=cfg.text_dim)
        self.cross = nn.MultiheadAttention(d, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(4 * d, d))

    def forward(self, x, pairs, mask, text, text_mask, text_pooled):
        x = x + self.spatial(self.norm1(x), pairs, mask, text_pooled)
        h = self.norm2(x)
        x = x + self.cross(h, text, text, key_padding_mask=~text_mask, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


class GroundingTransformer(nn.Module):
    """Scores every object of a scene for a sentence.

    Inputs (see :meth:`forward`): object geometry (B, N, 9), class-name embeddings
    (B, N, text_dim), object mask (B, N), text tokens (B, T, text_dim) with mask (B, T)
    and pooled sentence embeddings (B, text_dim).
    """

    def __init__(self, cfg: GroundingConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GroundingConfig()
        d = cfg.dim
        self.geometry = nn.Sequential(nn.Linear(9, d), nn.GELU(), nn.Linear(d, d))
        self.label = nn.Linear(cfg.text_dim, d)
        self.text = nn.Linear(cfg.text_dim, d)
        self.encoder = SpatialSelfAttention(d, cfg.heads, cfg.dropout)   # one unimodal spatial layer
        self.encoder_norm = nn.LayerNorm(d)
        self.layers = nn.ModuleList([FusionLayer(cfg) for _ in range(cfg.layers)])
        self.norm = nn.LayerNorm(d)
        self.score = nn.Linear(d, 1)
        self.object_proj = nn.Linear(d, cfg.text_dim)
        self.scene_proj = nn.Linear(d, cfg.text_dim)
        self.class_proj = nn.Linear(cfg.text_dim, cfg.text_dim)
        self.class_scale = nn.Parameter(torch.tensor(10.0))  # weight of the class-match prior

    def forward(self, geometry: torch.Tensor, label_embed: torch.Tensor, mask: torch.Tensor,
                text_tokens: torch.Tensor, text_mask: torch.Tensor, text_pooled: torch.Tensor) -> GroundingOutput:
        pairs = pair_features(geometry[..., :3])                                   # (B, N, N, 7)
        x = self.geometry(geometry) + self.label(label_embed)                      # (B, N, D)
        x = x + self.encoder(self.encoder_norm(x), pairs, mask)                    # unimodal context
        m = mask[..., None].float()
        object_embed = nn.functional.normalize(self.object_proj(x), dim=-1)        # (B, N, text_dim)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1)                            # (B, D)
        scene_embed = nn.functional.normalize(self.scene_proj(pooled), dim=-1)
        t = self.text(text_tokens)                                                 # (B, T, D)
        for layer in self.layers:
            x = layer(x, pairs, mask, t, text_mask, text_pooled)
        class_query = nn.functional.normalize(self.class_proj(text_pooled), dim=-1)   # (B, text_dim)
        # does the object's class match the class the sentence asks for? (open vocabulary)
        class_match = (nn.functional.normalize(label_embed, dim=-1) @ class_query[:, :, None]).squeeze(-1)
        logits = self.score(self.norm(x)).squeeze(-1) + self.class_scale * class_match   # (B, N)
        logits = logits.masked_fill(~mask, float("-inf"))
        return GroundingOutput(logits, object_embed, scene_embed, class_query)
