"""Text-aligned embeddings of scenes and their objects (all-MiniLM-L6-v2's sentence space).

An object is embedded as the phrase of its colour and class ("red chair"); a scene as the
normalised sum of its inventory sentence ("a bedroom with one bed, two lamps, ..."), the
mean of its objects' phrases and, when given, its caption. Class names and counts are the
parts of a scene that a text query can be compared with directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scene3d.language.lexicon import count_phrase, indefinite
from scene3d.models.text_encoder import TextEncoder, minilm_text_encoder
from scene3d.structures import Scene

STRUCTURE = {"wall", "floor", "ceiling"}  # left out of the scene embedding: every room has them


@dataclass
class SceneEmbedding:
    """scene: (D,) float32, L2-normalised; objects: (N, D) float32 per object of the scene."""

    scene: np.ndarray
    objects: np.ndarray


class SceneEmbedder:
    """Embeds texts, objects and scenes; caches the embedding of each distinct phrase.

    ``device``: where the default encoder (all-MiniLM-L6-v2) runs; embeddings come back as
    CPU numpy arrays either way.
    """

    def __init__(self, encoder: TextEncoder | None = None, batch_size: int = 64, device: torch.device | str = "cpu"):
        self.encoder = encoder or minilm_text_encoder(device=device)
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(B, D) float32 L2-normalised sentence embeddings."""
        new = sorted({t for t in texts if t not in self._cache})
        with torch.no_grad():
            for i in range(0, len(new), self.batch_size):
                chunk = new[i:i + self.batch_size]
                for t, v in zip(chunk, self.encoder(chunk).pooled.cpu().numpy()):
                    self._cache[t] = v.astype(np.float32)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    @staticmethod
    def object_phrase(label: str, color_name: str | None) -> str:
        return f"{color_name} {label}" if color_name else label

    @staticmethod
    def inventory(scene: Scene) -> str:
        """'a bedroom with one bed, two lamps and one wardrobe' (walls, floor, ceiling left out)."""
        counts = [(label, n) for label, n in scene.objects_by_label().items() if label not in STRUCTURE]
        things = [count_phrase(n, label) for label, n in counts]
        listed = ", ".join(things[:-1]) + (" and " if len(things) > 1 else "") + things[-1] if things else "nothing"
        return f"{indefinite(scene.meta.room_type or 'room')} with {listed}"

    def embed_scene(self, scene: Scene, caption: str | None = None) -> SceneEmbedding:
        """The scene's and its objects' embeddings."""
        phrases = [self.object_phrase(o.label, o.color_name) for o in scene.objects]
        objects = self.embed_texts(phrases)
        parts = [objects[i] for i, o in enumerate(scene.objects) if o.label not in STRUCTURE]
        vec = self.embed_texts([self.inventory(scene)])[0]
        if parts:
            mean = np.mean(parts, axis=0)
            vec = vec + mean / max(float(np.linalg.norm(mean)), 1e-6)
        if caption:
            vec = vec + self.embed_texts([caption])[0]
        norm = float(np.linalg.norm(vec))
        return SceneEmbedding((vec / norm if norm > 0 else vec).astype(np.float32), objects)
