"""GPS-style losses: referral cross-entropy, target-class, anchor, object- and scene-level InfoNCE."""

from __future__ import annotations

import torch
from torch import nn


def referral_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over each scene's objects. logits (B, N) (-inf on padding), target (B,) slot index."""
    return nn.functional.cross_entropy(logits, target)


def class_loss(class_query: torch.Tensor, class_embed: torch.Tensor, target: torch.Tensor,
               temperature: float = 0.07) -> torch.Tensor:
    """The sentence predicts its target's class among ``class_embed`` (C, D) (L2-normalised); target (B,)."""
    return nn.functional.cross_entropy(class_query @ class_embed.T / temperature, target)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE between matched rows of a (M, D) and b (M, D), both L2-normalised.

    Fewer than 2 rows: 0, still tied to ``a``'s graph (so every process of a DDP run
    produces gradients for the same parameters)."""
    if len(a) < 2:
        return a.sum() * 0.0
    logits = a @ b.T / temperature
    labels = torch.arange(len(a), device=a.device)
    return (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels)) / 2


def anchor_loss(anchor_logits: torch.Tensor, anchors: list[tuple[int, ...]],
                denominator: float | None = None) -> torch.Tensor:
    """Cross-entropy of the anchor head against the named anchors (uniform over several).

    anchor_logits (B, N) (-inf on padding); anchors: per row, the anchor slots (rows
    without anchors are left out; 0 when no row has any, still tied to the graph).
    ``denominator``: what the summed row losses are divided by (default: the rows with
    anchors; under DDP, the global batch's anchored rows / processes, so the averaged
    gradient is that of one process over the whole batch).
    """
    rows = [b for b, a in enumerate(anchors) if a]
    if not rows:
        return anchor_logits[:0].sum() * 0.0
    logp = anchor_logits[rows].log_softmax(-1)
    total = torch.stack([-logp[k, list(anchors[b])].mean() for k, b in enumerate(rows)]).sum()
    return total / (denominator if denominator else len(rows))
