"""The label-embedding teacher: a stand-in for an imperfect 2D open-vocabulary model on synthetic frames.

Each pixel gets the MiniLM text embedding of its object's class (from the frame's instance mask and
the scene's object labels), then per-view corruption imitates what real 2D models get wrong:
whole objects given a wrong class in one view (``swap_prob``), feature noise (``noise``), blurry
boundaries from low-resolution patch features (``blur_sigma``), pixels left without a feature
(``dropout``). Corruption is seeded by ``(seed, scene_id, frame name)``: a view always gets the same
map, different views of one object disagree independently.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scene3d.structures import Frame, Scene
from scene3d.teachers.base import TeacherError, TeacherMap


@dataclass
class LabelTeacherConfig:
    """How the label-embedding teacher corrupts the true class embeddings."""

    swap_prob: float = 0.3
    """Probability that an object visible in a view is given another class in that view."""
    noise: float = 0.3
    """Std of Gaussian noise added per pixel and channel to the unit feature, times ``1/sqrt(D)`` (1 = as large as the feature)."""
    blur_sigma: float = 1.0
    """Gaussian blur of the feature map, in map pixels (0 = none)."""
    dropout: float = 0.1
    """Fraction of pixels left without a feature (zero, invalid)."""
    downscale: int = 2
    """The map is the frame downscaled by this integer factor (block centres are sampled)."""
    vocabulary: tuple[str, ...] | None = None
    """Classes a swapped object may become; None = the scene's own label set."""
    seed: int = 0
    """Seed of the corruption (with the scene id and the frame name)."""

    def __post_init__(self) -> None:
        for name in ("swap_prob", "dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"LabelTeacherConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.noise < 0 or self.blur_sigma < 0:
            raise ValueError("LabelTeacherConfig.noise and blur_sigma must be >= 0")
        if int(self.downscale) < 1:
            raise ValueError(f"LabelTeacherConfig.downscale must be an integer >= 1, got {self.downscale}")


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(C, H, W)`` maps (zero padding, radius ``ceil(3 sigma)``)."""
    if sigma <= 0:
        return maps
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=maps.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = maps.shape[0]
    out = F.conv2d(maps[None], k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    out = F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)
    return out[0]


def view_seed(seed: int, scene_id: str, frame_name: str) -> int:
    """A stable 32-bit seed for one view (independent of Python's hash randomisation)."""
    return zlib.crc32(f"{seed}/{scene_id}/{frame_name}".encode())


class LabelEmbeddingTeacher:
    """Per-pixel class-name embeddings with per-view corruption (see the module docstring).

    Args:
        config: the corruption settings.
        text_encoder: a :class:`~scene3d.models.text_encoder.TextEncoder`; None loads the packaged
            all-MiniLM-L6-v2 on first use.
    """

    def __init__(self, config: LabelTeacherConfig | None = None, text_encoder=None):
        self.config = config or LabelTeacherConfig()
        self._encoder = text_encoder
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def encoder(self):
        if self._encoder is None:
            from scene3d.models.text_encoder import minilm_text_encoder

            self._encoder = minilm_text_encoder()
        return self._encoder

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @functools.cached_property
    def _store(self):
        """The on-disk class-name embeddings of the encoder's model (None: the cache is off)."""
        from scene3d.io.text_store import TextEmbeddingStore
        from scene3d.models.text_encoder import default_text_model_path

        if self._encoder is None:   # the packaged MiniLM, not loaded yet
            return TextEmbeddingStore.for_model(default_text_model_path())
        return TextEmbeddingStore.for_encoder(self._encoder)

    def embed_text(self, names: list[str]) -> torch.Tensor:
        """``(K, D)`` L2-normalised MiniLM embeddings of the class names (cached in memory and in
        :mod:`scene3d.io.text_store`: with the packaged encoder and a filled store, MiniLM is
        never loaded)."""
        from scene3d.io.text_store import recall

        if not names:
            return torch.zeros(0, self.dim)

        def encode(missing: list[str]) -> torch.Tensor:
            with torch.no_grad():
                return self.encoder(missing).pooled.float().cpu()

        recall(self._cache, sorted(set(names)), encode, self._store)
        return torch.stack([self._cache[n] for n in names])

    def _view_classes(self, scene: Scene, frame: Frame) -> tuple[list[str], np.ndarray, np.random.Generator]:
        """The view's class names (after this view's swaps), the ``(H', W')`` int64 row of each map pixel's
        class in them (``len(names)`` = no object) and the view's generator, positioned after the swaps.

        Raises:
            TeacherError: the frame has no instance mask, or its size is not divisible by ``downscale``.
        """
        cfg = self.config
        if frame.instance is None:
            raise TeacherError(f"scene {scene.scene_id} frame {frame.name}: the label teacher needs an instance "
                               "mask (synthetic frames have one); use hf_vision_teacher for other data")
        f = int(cfg.downscale)
        if frame.height % f or frame.width % f:
            raise TeacherError(f"frame {frame.name}: size {frame.width}x{frame.height} is not divisible by "
                               f"downscale={f}")
        rng = np.random.default_rng(view_seed(cfg.seed, scene.scene_id, frame.name))
        labels = scene.label_set()
        vocab = list(cfg.vocabulary) if cfg.vocabulary else labels
        # object id -> class name in this view (with swaps)
        view_label: dict[int, str] = {}
        for obj in scene.objects:
            name = obj.label
            if rng.random() < cfg.swap_prob and len(vocab) > 1:
                others = [v for v in vocab if v != name]
                name = others[int(rng.integers(len(others)))]
            view_label[obj.object_id] = name
        inst = frame.instance[f // 2::f, f // 2::f]  # (H', W') block centres
        names = sorted(set(view_label.values()))
        index = {n: i for i, n in enumerate(names)}
        lut = {oid: index[n] for oid, n in view_label.items()}
        ids = np.full(inst.shape, len(names), dtype=np.int64)
        for oid in np.unique(inst):
            if oid in lut:
                ids[inst == oid] = lut[oid]
        return names, ids, rng

    def __call__(self, scene: Scene, frame: Frame) -> TeacherMap:
        """The corrupted class-embedding map of ``frame`` (see :class:`TeacherMap` for the layout).

        Raises:
            TeacherError: the frame has no instance mask, or its size is not divisible by ``downscale``.
        """
        cfg = self.config
        names, ids, rng = self._view_classes(scene, frame)
        table = self.embed_text(names)
        table = torch.cat([table, table.new_zeros(1, table.shape[1])])  # row -1 = no object
        feats = table[torch.from_numpy(ids)]  # (H', W', D)
        valid = torch.from_numpy(ids < len(names))  # (H', W')
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        if cfg.noise > 0:
            feats = feats + torch.randn(feats.shape, generator=gen) * (cfg.noise / math.sqrt(table.shape[1])) * valid[..., None]
        feats = gaussian_blur(feats.permute(2, 0, 1), cfg.blur_sigma).permute(1, 2, 0)  # (H', W', D)
        if cfg.dropout > 0:
            valid = valid & (torch.rand(valid.shape, generator=gen) >= cfg.dropout)
        feats = F.normalize(feats, dim=-1) * valid[..., None]
        return TeacherMap(features=feats.contiguous(), valid=valid)

    def mean_feature(self, scene: Scene, frame: Frame) -> torch.Tensor:
        """The direction of the mean valid feature of ``frame``'s map without building the map: the
        view's class embeddings (this view's swaps, as :meth:`__call__` draws them) weighted by their
        map pixel counts.

        This is the expectation of the map's mean over the zero-mean noise and the uniform dropout;
        blurring mixes classes only along their boundaries. Measured against the unit mean of the map
        on 12 rooms (seeds 50000-50011, 120 views of 320 x 240): cosine 0.99999 median, 0.99994 at the worst.

        Returns:
            ``(D,)`` float32, unit norm (zero when no pixel shows an object).

        Raises:
            TeacherError: as :meth:`__call__`.
        """
        names, ids, _ = self._view_classes(scene, frame)
        counts = torch.from_numpy(np.bincount(ids.ravel(), minlength=len(names) + 1)[:len(names)]).float()
        return F.normalize(counts @ self.embed_text(names), dim=0) if names else torch.zeros(self.dim)


def label_embedding_teacher(swap_prob: float = 0.3, noise: float = 0.3, blur_sigma: float = 1.0,
                            dropout: float = 0.1, downscale: int = 2, vocabulary: list[str] | None = None,
                            seed: int = 0, text_encoder=None) -> LabelEmbeddingTeacher:
    """The embedded default teacher (MiniLM class embeddings, corrupted per view); see :class:`LabelTeacherConfig`."""
    return LabelEmbeddingTeacher(
        LabelTeacherConfig(swap_prob=swap_prob, noise=noise, blur_sigma=blur_sigma, dropout=dropout,
                           downscale=downscale, vocabulary=tuple(vocabulary) if vocabulary else None, seed=seed),
        text_encoder=text_encoder,
    )
