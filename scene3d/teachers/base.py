"""What a 2D teacher is: a frame -> a dense per-pixel feature map, plus its text space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from scene3d.errors import ConfigError, Scene3DError
from scene3d.structures import Frame, Scene


class TeacherError(Scene3DError, ValueError):
    """A teacher cannot serve this input (a frame without an instance mask, a model without a text space...)."""


@dataclass
class TeacherMap:
    """A teacher's features for one frame.

    The map covers the whole image at a lower resolution: map pixel ``(i, j)`` (column, row) of an
    ``H' x W'`` map is the block of the ``H x W`` frame whose centre is
    ``((i + 0.5) W / W', (j + 0.5) H / H')`` in frame pixels, i.e. the frame's camera resized with
    ``Cameras.resize(H', W')`` (``docs/render.md``).

    Attributes:
        features: ``(H', W', D)`` float32, L2-normalised where valid, zero elsewhere.
        valid: ``(H', W')`` bool, True where the teacher gives a feature.
    """

    features: torch.Tensor
    valid: torch.Tensor

    @property
    def height(self) -> int:
        return int(self.features.shape[0])

    @property
    def width(self) -> int:
        return int(self.features.shape[1])


class Teacher(Protocol):
    """A 2D feature teacher: ``teacher(scene, frame) -> TeacherMap`` with ``dim``-d features.

    ``embed_text(names) -> (K, D)`` L2-normalised text embeddings in the space the features live in
    (the zero-shot classifier); teachers without a paired text space raise :class:`TeacherError`.
    The map of a given frame is deterministic (the same view always gives the same features).
    ``mean_feature(scene, frame) -> (D,)`` is the unit direction of the map's mean valid feature, what
    image retrieval compares (:func:`map_mean` of the map); a teacher may compute it, or a close
    estimate of it, without building the dense map.
    """

    dim: int

    def __call__(self, scene: Scene, frame: Frame) -> TeacherMap: ...

    def mean_feature(self, scene: Scene, frame: Frame) -> torch.Tensor: ...

    def embed_text(self, names: list[str]) -> torch.Tensor: ...


def map_mean(teacher_map: TeacherMap) -> torch.Tensor:
    """``(D,)`` float32: the unit direction of the mean of a map's valid features (zero when none is valid)."""
    feats = teacher_map.features[teacher_map.valid].float()  # (P, D)
    if not len(feats):
        return torch.zeros(teacher_map.features.shape[-1])
    mean = feats.mean(dim=0).numpy()
    return torch.from_numpy(mean / max(float(np.linalg.norm(mean)), 1e-6))


def build_teacher(config) -> Teacher:
    """The teacher of a ``{_target_: <factory>, **arguments}`` config (dict or DictConfig).

    Raises:
        ConfigError: the factory cannot be found or fails on its arguments (the message says which).
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(config)
    except InstantiationException as exc:
        raise ConfigError(f"teacher: {str(exc).splitlines()[0]}") from None
