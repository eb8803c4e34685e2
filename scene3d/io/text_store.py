"""Sentence embeddings of lists of strings, kept on disk so that later processes skip encoding them.

Grounding embeds the class names of a scene on its first query, and the label teacher of an
image search those of the query's scene, on every cold start; this store keeps each such list's
embeddings across processes. One file per (model, list of strings):
``<root>/text/<model key>/<text key>.safetensors`` holding ``pooled`` (B, D) float32 and the
strings (checked on read). The model key hashes the model folder's path, the name, size and
modification time of each of its files, and ``max_length``: another or a changed model never
reads these vectors, and the key is known without loading the model (an image search on a
filled cache never loads MiniLM). The text key hashes the strings in order. Only frozen
encoders use the store.

The root: :func:`scene3d.runtime.cache_root` (``$SCENE3D_CACHE_DIR``, else
``$XDG_CACHE_HOME/scene3d``, else ``~/.cache/scene3d``); ``SCENE3D_CACHE_DIR=off`` turns the
store off. Files are written atomically (readers never see a partial one) with the process
umask; an unreadable file counts as absent and is rewritten, and the whole folder is safe to
delete at any time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from scene3d.io.atomic import atomic_path
from scene3d.runtime import cache_root


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class TextEmbeddingStore:
    """Pooled sentence embeddings of string lists of one encoder, on disk.

    Args:
        folder: this encoder's folder (``<root>/text/<encoder key>``; made on the first write).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @classmethod
    def for_model(cls, path: str | Path, max_length: int = 64) -> TextEmbeddingStore | None:
        """The store of the frozen text model in folder ``path`` (e.g.
        :func:`scene3d.models.text_encoder.default_text_model_path`) at ``max_length`` tokens, under
        :func:`cache_root`; None when the cache is off."""
        root = cache_root()
        if root is None:
            return None
        folder = Path(path)
        files = sorted((f.relative_to(folder).as_posix(), f.stat().st_size, f.stat().st_mtime_ns)
                       for f in folder.rglob("*") if f.is_file())
        return cls(root / "text" / _key(json.dumps([str(folder.resolve()), max_length, files])))

    @classmethod
    def for_encoder(cls, encoder) -> TextEmbeddingStore | None:
        """The store of a :class:`~scene3d.models.text_encoder.TextEncoder`'s model folder
        (:meth:`for_model` of its ``path`` and ``max_length``); None for a trainable one, whose
        weights change, for an encoder without a model folder, or when the cache is off."""
        path = getattr(encoder, "path", None)
        if path is None or getattr(encoder, "trainable", True):
            return None
        return cls.for_model(path, encoder.max_length)

    def _file(self, texts: list[str]) -> Path:
        return self.folder / f"{_key(json.dumps(texts))}.safetensors"

    def get(self, texts: list[str]) -> torch.Tensor | None:
        """(B, D) float32 embeddings of ``texts`` (B strings, in that order), or None when not stored
        (or unreadable)."""
        file = self._file(texts)
        if not file.is_file():
            return None
        try:
            with safe_open(str(file), framework="pt") as f:
                stored = json.loads((f.metadata() or {}).get("texts", "null"))
                pooled = f.get_tensor("pooled")
        except (OSError, ValueError, SafetensorError):
            return None
        return pooled if stored == texts and pooled.shape[0] == len(texts) else None

    def put(self, texts: list[str], pooled: torch.Tensor) -> None:
        """Keep (B, D) ``pooled`` as the embeddings of ``texts`` (atomic write). A folder that cannot be
        written leaves the store a no-op: the cache only saves time."""
        try:
            with atomic_path(self._file(texts)) as tmp:
                save_file({"pooled": pooled.detach().float().cpu().contiguous()}, str(tmp),
                          metadata={"texts": json.dumps(texts)})
        except OSError:
            pass


def recall(memory: dict[str, torch.Tensor], texts: list[str], encode: Callable[[list[str]], torch.Tensor],
           store: TextEmbeddingStore | None) -> None:
    """Put the embeddings of the strings of ``texts`` that ``memory`` lacks into it: read as one list
    from ``store``, or ``encode``-d ((M,) strings -> (M, D) tensor) and then kept in ``store``
    (None: encoded, not kept)."""
    missing = [t for t in dict.fromkeys(texts) if t not in memory]
    if not missing:
        return
    pooled = store.get(missing) if store is not None else None
    if pooled is None:
        pooled = encode(missing)
        if store is not None:
            store.put(missing, pooled)
    memory.update(zip(missing, pooled))
