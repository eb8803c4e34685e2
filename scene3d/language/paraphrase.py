"""Paraphrase stages: rule-based by default; optionally a local seq2seq model.

The rule-based stage re-realises the program with other words: class synonyms,
another phrase for the relation, another frame, or the relation clause first.
Its meaning is the program's, so the result stays a valid referral.

:class:`Seq2SeqParaphraser` rewrites free text with a transformers seq2seq model
loaded from a local folder (never downloaded). A model can drift from the
meaning, so its output is kept only when it still names the target's class and
every anchor class; otherwise the template sentence stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from scene3d.errors import ConfigError
from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.program import ObjectRef
from scene3d.language.realize import realize
from scene3d.language.vocab import DEFAULT_VOCABULARY, Vocabulary


def rule_paraphrase(ref: ObjectRef, graph: SceneGraph, rng: np.random.Generator,
                    names: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """Another sentence with the same program (synonyms from ``names``, clause order, wording)."""
    return realize(ref, graph, rng, names=names, synonym_rate=0.6, front_clause=bool(rng.random() < 0.35))


class Seq2SeqParaphraser:
    """A transformers seq2seq model (T5/BART-like) read from ``path`` with local files only.

    Args:
        path: a folder written by ``save_pretrained`` (model + tokenizer).
        prefix: text put before the input ("paraphrase: " for T5-style models).
        max_new_tokens: generation length limit.
        device: torch device name.

    Raises:
        ConfigError: the folder is missing or does not hold a seq2seq model.
    """

    def __init__(self, path: str | Path, prefix: str = "paraphrase: ", max_new_tokens: int = 48,
                 device: str = "cpu"):
        path = Path(path)
        if not path.is_dir():
            raise ConfigError(f"paraphrase model folder {path} not found")
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(path), local_files_only=True).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a seq2seq model from {path}: {exc}") from None
        self.prefix, self.max_new_tokens, self.device = prefix, max_new_tokens, device

    def __call__(self, texts: list[str]) -> list[str]:
        """Paraphrases of ``texts`` (greedy decoding, batched)."""
        import torch

        if not texts:
            return []
        enc = self.tokenizer([self.prefix + t for t in texts], return_tensors="pt", padding=True).to(self.device)
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
        return [s.strip() for s in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def keeps_meaning(text: str, ref: ObjectRef, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> bool:
    """The guard on model paraphrases: the target class (or a synonym) and every anchor class are named."""
    low = f" {text.lower()} "

    def named(label: str) -> bool:
        return any(f" {w} " in low or f" {w}s " in low for w in (label, *vocabulary.synonyms.get(label, ())))

    return named(ref.label) and all(named(a.label) for a in ref.anchor_refs())
