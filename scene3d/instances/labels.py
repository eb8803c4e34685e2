"""Open-vocabulary labels of proposals: the mean point feature of each proposal (the distilled
student's, a 2D teacher's fused through the frames, or both) against the class names embedded in
the same text space, turned into probabilities by a softmax over the classes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def proposal_features(features: torch.Tensor, proposal: np.ndarray, num: int,
                      valid: torch.Tensor | None = None) -> torch.Tensor:
    """``(P, D)`` unit mean feature of each proposal.

    Args:
        features: ``(N, D)`` point features (any scale; each point is normalised first).
        proposal: ``(N,)`` int proposal index per point, -1 = none.
        num: ``P``, the number of proposals.
        valid: ``(N,)`` bool, the points whose feature counts (e.g. seen by a view), or None for all.

    Returns:
        ``(P, D)`` float32; a zero row for a proposal without a valid point.
    """
    keep = torch.from_numpy(proposal >= 0)
    if valid is not None:
        keep &= valid
    idx = torch.from_numpy(proposal)[keep]
    acc = torch.zeros(num, features.shape[1]).index_add_(0, idx, F.normalize(features.float()[keep], dim=-1))
    return F.normalize(acc, dim=-1)


def top_labels(features: torch.Tensor, classes: list[str], text: torch.Tensor, top_k: int,
               temperature: float) -> list[tuple[tuple[str, float], ...]]:
    """Per proposal, its ``top_k`` classes with probabilities, highest first.

    Args:
        features: ``(P, D)`` unit proposal features (a zero row gives the uniform distribution).
        classes: ``K`` class names; ``text`` their ``(K, D)`` unit embeddings.
        top_k: classes kept (at most ``K``).
        temperature: of the softmax over the cosines, ``> 0``.

    Raises:
        ValueError: no classes, ``text`` not ``(K, D)``, ``top_k < 1`` or ``temperature <= 0``.
    """
    if not classes or tuple(text.shape) != (len(classes), features.shape[1]):
        raise ValueError(f"top_labels: {len(classes)} classes need a ({len(classes)}, {features.shape[1]}) text "
                         f"embedding, got {tuple(text.shape)}")
    if top_k < 1 or not temperature > 0:
        raise ValueError(f"top_labels: top_k >= 1 and temperature > 0 needed, got {top_k}, {temperature}")
    prob = torch.softmax(features.float() @ text.float().T / temperature, dim=-1)  # (P, K)
    values, index = prob.topk(min(top_k, len(classes)), dim=-1)
    return [tuple((classes[k], float(v)) for k, v in zip(ks.tolist(), vs.tolist())) for ks, vs in zip(index, values)]
