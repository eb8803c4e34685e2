"""Running a grounding model over a dataset: predictions, both protocols against the
class-random floor, and the calibration of its "names nothing here" flag."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from scene3d.grounding.data import collate_objects, reference_frame
from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.mentions import class_mention_features
from scene3d.grounding.metrics import (
    ReferIt3DScores,
    ScanReferScores,
    class_random_floor,
    referit3d_accuracy,
    scanrefer_accuracy,
)
from scene3d.models.grounding import GroundingOutput, GroundingTransformer
from scene3d.structures import Scene


def model_forward(model: GroundingTransformer, cache: TextCache, scenes: list[Scene], texts: list[str],
                  viewpoints: list[tuple[float, ...] | None], yaw_jitter: list[float] | None = None,
                  rng: np.random.Generator | None = None, net: torch.nn.Module | None = None,
                  token_dropout: float = 0.0):
    """Run the model on B (scene, text) pairs; returns (GroundingOutput, ObjectBatch).

    ``viewpoints``: per pair, (x, y, z, dx, dy, dz) of the observer (metres, world frame) or
    None; ``yaw_jitter``: per pair, an extra turn of the reference frame about z (radians);
    ``rng``: samples object points when the model encodes them (default: seed 0); ``net``:
    the module to call (``model`` itself, or its DistributedDataParallel wrapper);
    ``token_dropout``: training only, each sentence token but the first is hidden from the
    model (its attention mask) with this probability, drawn from ``rng``. Class
    names go through ``cache`` (frozen); sentences too, unless the model fine-tunes its own
    text encoder. Predicted objects with ``label_scores`` enter with their class distribution
    (:func:`~scene3d.grounding.data.class_distribution`; see :class:`GroundingTransformer`).
    """
    frames = []
    for k, (scene, vp) in enumerate(zip(scenes, viewpoints)):
        origin, yaw = reference_frame(scene, vp)
        frames.append((origin, yaw + (yaw_jitter[k] if yaw_jitter else 0.0)))
    device = next(model.parameters()).device
    objects = collate_objects(scenes, frames, points_per_object=model.cfg.points, rng=rng).to(device)
    classes = objects.classes or [[((x, 1.0),) if x else () for x in row] for row in objects.labels]
    names = sorted({name for row in classes for dist in row for name, _ in dist})
    table = dict(zip(names, cache.embed(names))) if names else {}
    zero = torch.zeros(cache.encoder.dim)
    label_weights = None
    if objects.classes is None:     # one class per object: (B, N, D)
        label_embed = torch.stack([torch.stack([table.get(x, zero) for x in row]) for row in objects.labels])
    else:                           # class distributions: (B, N, K, D) with their probabilities (B, N, K)
        b, n = objects.mask.shape
        k = max(len(dist) for row in classes for dist in row)
        label_embed, label_weights = torch.zeros(b, n, k, cache.encoder.dim), torch.zeros(b, n, k)
        for i, row in enumerate(classes):
            for j, dist in enumerate(row):
                for c, (name, w) in enumerate(dist):
                    label_embed[i, j, c], label_weights[i, j, c] = table[name], w
        label_weights = label_weights.to(device)
    label_embed = label_embed.to(device)
    if model.text_encoder is not None:
        enc = model.text_encoder(texts)
        tokens, mask, pooled = enc.tokens, enc.mask, enc.pooled
    else:
        tokens, mask, pooled = (x.to(device) for x in cache.batch(texts))
    if token_dropout > 0:
        hide = torch.from_numpy((rng or np.random.default_rng(0)).random(tuple(mask.shape)) < token_dropout)
        hide[:, 0] = False
        mask = mask & ~hide.to(mask.device)
    mentions = None
    if model.cfg.mentions:
        mentions = torch.from_numpy(np.stack([class_mention_features(row, text) for row, text in zip(classes, texts)]))
        mentions = mentions.to(device)
    out = (net or model)(objects.geometry, label_embed, objects.mask, tokens, mask, pooled, objects.points,
                         objects.point_valid, mentions, label_weights=label_weights)
    return out, objects


def rotation_averaged(model: GroundingTransformer, cache: TextCache, scenes: list[Scene], texts: list[str],
                      viewpoints: list[tuple[float, ...] | None], rotations: int = 4):
    """Referral log-probabilities averaged over ``rotations`` turns of each scene about z.

    The model is trained with random turns of the scene frame; averaging its answers over
    evenly spaced turns (test-time augmentation) steadies them. Sentences with a viewpoint
    keep their viewer's frame (no turn). One forward pass of B x ``rotations`` rows.

    Returns:
        (log_probs (B, N), the GroundingOutput of the unturned rows, ObjectBatch).
    """
    b, k = len(scenes), max(1, rotations)
    jitter = [2 * math.pi * r / k for r in range(k) for _ in range(b)]                  # rotation-major
    out, objects = model_forward(model, cache, scenes * k, texts * k, viewpoints * k, jitter)
    logp = out.logits.log_softmax(-1).masked_fill(~objects.mask, 0.0).view(k, b, -1)    # (k, B, N)
    use = torch.ones(k, b, 1, device=logp.device)
    use[1:, [i for i, vp in enumerate(viewpoints) if vp is not None]] = 0.0             # viewer's frame: turn 0 only
    log_probs = (logp * use).sum(0) / use.sum(0)
    log_probs = log_probs.masked_fill(~objects.mask[:b], float("-inf"))
    first = GroundingOutput(*(getattr(out, f.name)[:b] for f in fields(GroundingOutput)))
    return log_probs, first, objects.subset(b)


def choose(model: GroundingTransformer, cache: TextCache, scenes: list[Scene], texts: list[str],
           viewpoints: list[tuple[float, ...] | None], batch_size: int = 64, rotations: int = 4) -> list[int]:
    """The chosen object's id for each (scene, sentence, viewpoint) triple (eval mode, no
    gradients; answers averaged over ``rotations`` turns of the scene, see
    :func:`rotation_averaged`). Every scene must have objects."""
    model.eval()
    preds: list[int] = []
    with torch.no_grad():
        for i in range(0, len(scenes), batch_size):
            part = slice(i, i + batch_size)
            log_probs, _, objects = rotation_averaged(model, cache, scenes[part], texts[part], viewpoints[part],
                                                      rotations)
            preds += objects.object_ids[torch.arange(len(log_probs)), log_probs.argmax(dim=1)].tolist()
    return preds


def predict(model: GroundingTransformer, cache: TextCache, data: GroundingDataset, batch_size: int = 64,
            rotations: int = 4) -> list[int]:
    """Predicted object id for every example of ``data`` (:func:`choose`)."""
    return choose(model, cache, [data.scenes[ex.scene] for ex in data.examples],
                  [ex.utterance.text for ex in data.examples], [ex.utterance.viewpoint for ex in data.examples],
                  batch_size, rotations)


@dataclass(frozen=True)
class GroundingReport:
    """A model's scores under both protocols, with the oracle-class random floor of each."""

    referit3d: ReferIt3DScores
    scanrefer: ScanReferScores
    floor_referit3d: ReferIt3DScores
    floor_scanrefer: ScanReferScores

    def to_json(self) -> dict:
        return {"referit3d": asdict(self.referit3d), "scanrefer": asdict(self.scanrefer),
                "floor": {"referit3d": asdict(self.floor_referit3d), "scanrefer": asdict(self.floor_scanrefer)}}

    def table(self, protocol: str = "referit3d") -> str:
        """Model vs floor as a text table; ``protocol`` is "referit3d" or "scanrefer"."""
        if protocol == "scanrefer":
            rows = [f"{'':<22}{'Acc@0.25':>9}{'Acc@0.5':>9}{'uniq@.25':>9}{'uniq@.5':>9}{'mult@.25':>9}"
                    f"{'mult@.5':>9}{'n':>7}"]
            for name, s in (("model", self.scanrefer), ("floor (class+random)", self.floor_scanrefer)):
                rows.append(f"{name:<22}{s.acc25:>9.1%}{s.acc50:>9.1%}{s.unique25:>9.1%}{s.unique50:>9.1%}"
                            f"{s.multiple25:>9.1%}{s.multiple50:>9.1%}{s.n:>7}")
            return "\n".join(rows)
        rows = [f"{'':<22}{'overall':>9}{'easy':>8}{'hard':>8}{'view-dep':>10}{'view-ind':>10}{'n':>7}"]
        for name, s in (("model", self.referit3d), ("floor (class+random)", self.floor_referit3d)):
            rows.append(f"{name:<22}{s.overall:>9.1%}{s.easy:>8.1%}{s.hard:>8.1%}{s.view_dependent:>10.1%}"
                        f"{s.view_independent:>10.1%}{s.n:>7}")
        return "\n".join(rows)


def evaluate(model: GroundingTransformer, cache: TextCache, data: GroundingDataset,
             rotations: int = 4) -> GroundingReport:
    """Both protocols on ``data`` (ReferIt3D: the chosen id; ScanRefer: the chosen object's box);
    answers averaged over ``rotations`` turns of each scene."""
    utts = [ex.utterance for ex in data.examples]
    scenes = {s.scene_id: s for s in data.scenes}
    preds = predict(model, cache, data, rotations=rotations)
    boxes = [scenes[u.scene_id].object(p).box for u, p in zip(utts, preds)]
    floor_refer, floor_scan = class_random_floor(utts, scenes)
    return GroundingReport(referit3d_accuracy(utts, preds, scenes), scanrefer_accuracy(utts, boxes, scenes),
                           floor_refer, floor_scan)


def calibrate_confidence(model: GroundingTransformer, cache: TextCache, data: GroundingDataset,
                         max_examples: int = 2000, seed: int = 0) -> dict:
    """Pick the class-match threshold below which a query is flagged as naming nothing in the scene.

    Positives: referrals in their own scene (the best class match of their objects).
    Negatives: the same referrals in another scene that has no object of the target's class.
    The threshold maximises balanced accuracy; returns it with the rates it reaches
    (threshold None when ``data`` has no scene without some referral's target class).
    """
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(data.examples))[:max_examples]
    examples = [data.examples[i] for i in picks]
    negatives = []
    for ex in examples:
        label = data.scenes[ex.scene].objects[ex.target].label
        others = [k for k, s in enumerate(data.scenes) if all(o.label != label for o in s.objects)]
        if others:
            negatives.append((ex, int(rng.choice(others))))
    if not negatives:
        return {"class_match_threshold": None, "reason": "no scene lacks a target's class: nothing to calibrate on"}

    def best_match(pairs: list[tuple[int, str]]) -> np.ndarray:
        values = []
        model.eval()
        with torch.no_grad():
            for i in range(0, len(pairs), 64):
                chunk = pairs[i:i + 64]
                out, objects = model_forward(model, cache, [data.scenes[k] for k, _ in chunk],
                                             [t for _, t in chunk], [None] * len(chunk))
                values += out.class_match.masked_fill(~objects.mask, -1.0).max(dim=1).values.tolist()
        return np.array(values)

    pos = best_match([(ex.scene, ex.utterance.text) for ex in examples])
    neg = best_match([(k, ex.utterance.text) for ex, k in negatives])
    candidates = np.unique(np.concatenate([pos, neg]))
    balanced = [((pos >= t).mean() + (neg < t).mean()) / 2 for t in candidates]
    t = float(candidates[int(np.argmax(balanced))])
    return {"class_match_threshold": t, "true_positive_rate": float((pos >= t).mean()),
            "true_negative_rate": float((neg < t).mean()), "positives": len(pos), "negatives": len(neg)}


__all__ = ["GroundingReport", "calibrate_confidence", "choose", "evaluate", "model_forward", "predict",
           "rotation_averaged"]
