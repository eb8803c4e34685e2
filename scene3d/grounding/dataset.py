"""Grounding examples: (scene, sentence, target) triples with the captions used by the
alignment losses, and a cache of frozen text features."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch

from scene3d.models.text_encoder import TextEncoder
from scene3d.structures import Scene, Utterance


@dataclass
class GroundingExample:
    """One referral: its scene (index into the dataset's scenes), target slot, record, and the
    slots of the anchors it names (when the source lists them: Sr3D, generated)."""

    scene: int
    target: int
    utterance: Utterance
    anchors: tuple[int, ...] = ()


@dataclass
class GroundingDataset:
    """Scenes, referrals and captions.

    Attributes:
        scenes: the scenes (object lists are enough).
        examples: referrals whose target is an object of their scene.
        object_captions: per scene index, (object slot, caption) pairs.
        scene_captions: per scene index, its caption (or absent).
        skipped: utterances that were left out, with the reason.
    """

    scenes: list[Scene]
    examples: list[GroundingExample]
    object_captions: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    scene_captions: dict[int, str] = field(default_factory=dict)
    skipped: list[tuple[Utterance, str]] = field(default_factory=list)

    @classmethod
    def build(cls, scenes: Mapping[str, Scene], utterances: Iterable[Utterance]) -> GroundingDataset:
        """Match utterances to scenes; referrals become examples, captions go aside."""
        utterances = list(utterances)
        ids = sorted({u.scene_id for u in utterances if u.scene_id in scenes})
        index = {sid: k for k, sid in enumerate(ids)}
        slots = {sid: {o.object_id: i for i, o in enumerate(scenes[sid].objects)} for sid in ids}
        ds = cls(scenes=[scenes[sid] for sid in ids], examples=[])
        for u in utterances:
            if u.scene_id not in index:
                ds.skipped.append((u, f"scene {u.scene_id} not loaded"))
                continue
            k = index[u.scene_id]
            if u.kind == "scene_caption":
                ds.scene_captions[k] = u.text
                continue
            slot = slots[u.scene_id].get(u.target_id)
            if slot is None:
                ds.skipped.append((u, f"target {u.target_id} not in {u.scene_id}"))
            elif u.kind == "object_caption":
                ds.object_captions.setdefault(k, []).append((slot, u.text))
            else:
                anchors = tuple(slots[u.scene_id][a] for a in u.anchor_ids if a in slots[u.scene_id])
                ds.examples.append(GroundingExample(k, slot, u, anchors))
        return ds


class TextCache:
    """Frozen text features, computed once per distinct string (float16 on the CPU)."""

    def __init__(self, encoder: TextEncoder, batch_size: int = 128):
        self.encoder, self.batch_size = encoder, batch_size
        self.tokens: dict[str, torch.Tensor] = {}
        self.pooled: dict[str, torch.Tensor] = {}

    def add(self, texts: Iterable[str]) -> None:
        new = sorted({t for t in texts if t not in self.pooled})
        with torch.no_grad():
            for i in range(0, len(new), self.batch_size):
                chunk = new[i:i + self.batch_size]
                enc = self.encoder(chunk)
                for j, text in enumerate(chunk):
                    n = int(enc.mask[j].sum())
                    self.tokens[text] = enc.tokens[j, :n].half().cpu()
                    self.pooled[text] = enc.pooled[j].cpu()

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, D) tokens, (B, T) mask, (B, D) pooled for ``texts`` (encoding any new ones)."""
        self.add(texts)
        t = max(len(self.tokens[x]) for x in texts)
        d = self.encoder.dim
        tokens = torch.zeros(len(texts), t, d)
        mask = torch.zeros(len(texts), t, dtype=torch.bool)
        for i, x in enumerate(texts):
            n = len(self.tokens[x])
            tokens[i, :n] = self.tokens[x].float()
            mask[i, :n] = True
        return tokens, mask, torch.stack([self.pooled[x] for x in texts])

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(B, D) pooled, L2-normalised sentence embeddings."""
        self.add(texts)
        return torch.stack([self.pooled[x] for x in texts])
