"""Grounding examples: (scene, sentence, target) triples with the captions used by the
alignment losses, and a cache of frozen text features."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from scene3d.errors import SceneFormatError
from scene3d.io.atomic import atomic_path, atomic_write_text
from scene3d.io.text_store import TextEmbeddingStore, recall
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
    """Frozen text features, computed once per distinct string (tokens float16 on the CPU).

    Args:
        encoder: the frozen text encoder.
        batch_size: strings encoded per call.
        folder: where encoded strings are kept on disk (safetensors shards + their strings,
            written atomically), so runs and processes share them; None: in memory only.
            Shards of another encoder are ignored (the folder's ``encoder.json`` names it).
        store: where :meth:`embed` keeps the embeddings of each list of strings it is asked for
            (class names: the same lists come back in every process); None: not kept.
        sentence_encoder: encodes the strings :meth:`batch` meets for the first time (the
            sentences), e.g. ``encoder.int8()`` for faster queries; class names asked through
            :meth:`embed` first still go through ``encoder``. None: ``encoder``. Not with a
            ``folder`` (its shards hold one encoder's features).

    Raises:
        ValueError: both ``folder`` and ``sentence_encoder``.
    """

    def __init__(self, encoder: TextEncoder, batch_size: int = 128, folder: str | Path | None = None,
                 store: TextEmbeddingStore | None = None, sentence_encoder: TextEncoder | None = None):
        if folder is not None and sentence_encoder is not None:
            raise ValueError("a TextCache with a folder keeps one encoder's features: no sentence_encoder")
        self.encoder, self.batch_size, self.store = encoder, batch_size, store
        self.sentence_encoder = sentence_encoder or encoder
        self.tokens: dict[str, torch.Tensor] = {}
        self.pooled: dict[str, torch.Tensor] = {}
        self.folder = Path(folder) if folder is not None else None
        self._unsaved: list[str] = []
        if self.folder is not None:
            self.load()

    def _identity(self) -> dict:
        model = self.encoder.model
        return {"model": str(getattr(model.config, "_name_or_path", "")), "dim": self.encoder.dim,
                "max_length": self.encoder.max_length,
                "fingerprint": float(next(model.parameters()).detach().double().sum())}

    def load(self) -> None:
        """Read the folder's shards (those of this encoder) into memory."""
        ident = self.folder / "encoder.json"
        if ident.is_file() and json.loads(ident.read_text()) != self._identity():
            return  # another encoder's features: start afresh (the next save replaces them)
        for shard in sorted(self.folder.glob("shard_*.safetensors")):
            texts_file = shard.with_suffix(".json")
            if not texts_file.is_file():
                continue
            texts = json.loads(texts_file.read_text())
            data = load_file(shard)
            lengths = data["lengths"].tolist()
            if len(lengths) != len(texts):
                raise SceneFormatError(shard, f"{len(lengths)} encodings for {len(texts)} strings; delete the folder")
            for text, tok, pooled in zip(texts, data["tokens"].split(lengths), data["pooled"]):
                self.tokens[text], self.pooled[text] = tok, pooled

    def save(self) -> int:
        """Write the strings encoded since the last save as a new shard; returns how many."""
        if self.folder is None or not self._unsaved:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        ident = self.folder / "encoder.json"
        if not ident.is_file() or json.loads(ident.read_text()) != self._identity():
            for old in self.folder.glob("shard_*"):
                old.unlink()
            atomic_write_text(ident, json.dumps(self._identity()))
        texts, self._unsaved = self._unsaved, []
        name = f"shard_{len(list(self.folder.glob('shard_*.safetensors'))):05d}_{os.getpid()}"
        tensors = {"tokens": torch.cat([self.tokens[t] for t in texts]).contiguous(),
                   "lengths": torch.tensor([len(self.tokens[t]) for t in texts]),
                   "pooled": torch.stack([self.pooled[t] for t in texts]).contiguous()}
        with atomic_path(self.folder / f"{name}.safetensors") as tmp:
            save_file(tensors, str(tmp))
        atomic_write_text(self.folder / f"{name}.json", json.dumps(texts))   # written last: marks the shard complete
        return len(texts)

    def add(self, texts: Iterable[str], progress: bool = False, save_every: int = 20000,
            encoder: TextEncoder | None = None) -> None:
        """Encode the strings not seen yet (``progress``: a progress bar) with ``encoder``
        (default: the cache's). With a folder, every ``save_every`` new strings are saved as
        they come, so an interrupted run keeps them."""
        encoder = encoder or self.encoder
        new = sorted({t for t in texts if t not in self.tokens})
        with torch.no_grad():
            for i in tqdm(range(0, len(new), self.batch_size), desc="encode text", unit="batch",
                          disable=not progress or not new):
                chunk = new[i:i + self.batch_size]
                enc = encoder(chunk)
                for j, text in enumerate(chunk):
                    n = int(enc.mask[j].sum())
                    self.tokens[text] = enc.tokens[j, :n].half().cpu()
                    self.pooled[text] = enc.pooled[j].cpu()
                if self.folder is not None:
                    self._unsaved += chunk
                    if len(self._unsaved) >= save_every:
                        self.save()

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, D) tokens, (B, T) mask, (B, D) pooled for ``texts`` (encoding any new ones with
        the sentence encoder)."""
        self.add(texts, encoder=self.sentence_encoder)
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
        """(B, D) pooled, L2-normalised sentence embeddings. The strings not in memory are read
        from ``store`` as one list, or encoded and then kept there."""
        recall(self.pooled, texts, self._encode_pooled, self.store)
        return torch.stack([self.pooled[x] for x in texts])

    def _encode_pooled(self, texts: list[str]) -> torch.Tensor:
        self.add(texts)
        return torch.stack([self.pooled[x] for x in texts])
