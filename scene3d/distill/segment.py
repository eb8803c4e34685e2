"""Open-vocabulary segmentation of one scene by a distilled student: per-point class labels and
scores against class-name text embeddings, the relevancy of a typed query, a PCA colouring of the
features, and the files ``scene3d segment`` writes (``segment.npz`` + ``segment.json``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from scene3d.io.atomic import atomic_write_bytes, atomic_write_text
from scene3d.structures import Scene


@dataclass
class PointSegmentation:
    """Per-point open-vocabulary results for the ``N`` points of one scene.

    Attributes:
        classes: the ``K`` class names.
        labels: ``(N,)`` int64 index into ``classes`` of the best class (argmax cosine).
        scores: ``(N, K)`` float32 cosine between each point's feature and each class-name embedding.
        relevancy: ``(N,)`` float32 in [0, 1] of the query (:func:`query_relevancy`), or None without one.
        pca_rgb: ``(N, 3)`` uint8 colours: the features' first 3 principal components (:func:`feature_pca_rgb`).
        query: the query, or None.
    """

    classes: list[str]
    labels: Tensor
    scores: Tensor
    relevancy: Tensor | None
    pca_rgb: np.ndarray
    query: str | None = None

    def ground_truth_match(self, scene: Scene) -> tuple[float, int] | None:
        """(fraction of the scene's labelled points whose predicted class name is their ground-truth
        label, number of labelled points); None when the scene has no labelled point."""
        gt = scene.point_labels()
        labelled = gt >= 0
        if not labelled.any():
            return None
        names = np.array(scene.label_set(), dtype=object)[gt[labelled]]
        pred = np.array(self.classes, dtype=object)[self.labels.numpy()[labelled]]
        return float((names == pred).mean()), int(labelled.sum())


def query_relevancy(features: Tensor, query: Tensor, negatives: Tensor, temperature: float = 0.07) -> Tensor:
    """``(N,)`` probability that each point is the query rather than any of the negatives:
    ``softmax([unit(f) . q, unit(f) . n_1, ...] / temperature)[0]`` (LERF-style, with the class
    names as the negatives).

    Args:
        features: ``(N, D)`` point features (any scale).
        query: ``(D,)`` unit text embedding of the query.
        negatives: ``(M, D)`` unit text embeddings of the competing names (may be empty: all 1).
        temperature: ``> 0``, cosine units.

    Raises:
        ValueError: ``temperature <= 0``.
    """
    if not temperature > 0:
        raise ValueError(f"query_relevancy: temperature must be > 0, got {temperature}")
    f = F.normalize(features.float(), dim=-1)
    logits = f @ torch.cat([query.float()[None], negatives.float()]).T / temperature  # (N, 1 + M)
    return torch.softmax(logits, dim=-1)[:, 0]


def feature_pca_rgb(features: Tensor) -> np.ndarray:
    """``(N, 3)`` uint8 colours of ``(N, D)`` features: their first three principal components (sign
    fixed so that each component's largest loading is positive), each mapped from its 1st..99th
    percentile to 0..255 (clipped). Fewer than 3 components (D < 3 or a degenerate cloud) leave the
    missing channels at 0."""
    x = features.double()
    x = x - x.mean(dim=0)
    cov = x.T @ x / max(len(x) - 1, 1)  # (D, D)
    _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    comps = vecs[:, -3:].flip(-1)  # (D, <=3), largest first
    comps = comps * torch.sign(comps.gather(0, comps.abs().argmax(dim=0, keepdim=True)))
    proj = (x @ comps).numpy()  # (N, <=3)
    out = np.zeros((len(x), 3), dtype=np.uint8)
    for c in range(proj.shape[1]):
        lo, hi = np.percentile(proj[:, c], [1, 99])
        if hi > lo:
            out[:, c] = np.clip((proj[:, c] - lo) / (hi - lo) * 255, 0, 255).round().astype(np.uint8)
    return out


def segment_points(features: Tensor, classes: list[str], text: Tensor, query: str | None = None,
                   query_text: Tensor | None = None, temperature: float = 0.07) -> PointSegmentation:
    """Label each point with the class of highest cosine and, with a query, its relevancy.

    Args:
        features: ``(N, D)`` point features (the student's).
        classes: ``K`` class names; ``text`` their ``(K, D)`` unit embeddings.
        query / query_text: the query and its ``(D,)`` unit embedding (both or neither); a class of
            that very name is left out of the relevancy's negatives.
        temperature: of the relevancy softmax.

    Raises:
        ValueError: no classes, ``text`` not ``(K, D)``, or a query without its embedding.
    """
    if not classes or text.shape != (len(classes), features.shape[1]):
        raise ValueError(f"segment_points: {len(classes)} classes need a ({len(classes)}, {features.shape[1]}) "
                         f"text embedding, got {tuple(text.shape)}")
    if (query is None) != (query_text is None):
        raise ValueError("segment_points: pass the query with its embedding (query and query_text)")
    scores = F.normalize(features.float(), dim=-1) @ text.float().T  # (N, K)
    relevancy = None
    if query is not None:
        keep = [i for i, c in enumerate(classes) if c != query]
        relevancy = query_relevancy(features, query_text, text[keep], temperature)
    return PointSegmentation(classes=list(classes), labels=scores.argmax(dim=-1), scores=scores, relevancy=relevancy,
                             pca_rgb=feature_pca_rgb(features), query=query)


def write_segmentation(seg: PointSegmentation, out: str | Path, summary: dict) -> None:
    """Write ``out/segment.npz`` (``labels (N,)`` int32, ``scores (N, K)`` float16, ``best_score (N,)``
    float32, ``pca_rgb (N, 3)`` uint8, ``relevancy (N,)`` float32 with a query) and ``out/segment.json``
    (``summary`` plus the classes and the query), each atomically."""
    arrays = {"labels": seg.labels.numpy().astype(np.int32), "scores": seg.scores.numpy().astype(np.float16),
              "best_score": seg.scores.max(dim=-1).values.numpy().astype(np.float32), "pca_rgb": seg.pca_rgb}
    if seg.relevancy is not None:
        arrays["relevancy"] = seg.relevancy.numpy().astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    out = Path(out)
    atomic_write_bytes(out / "segment.npz", buf.getvalue())
    atomic_write_text(out / "segment.json", json.dumps({**summary, "classes": seg.classes, "query": seg.query},
                                                       indent=1))
