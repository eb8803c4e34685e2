"""What a 2D teacher is: a frame -> a dense per-pixel feature map, plus its text space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from scene3d.errors import Scene3DError
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
    """

    dim: int

    def __call__(self, scene: Scene, frame: Frame) -> TeacherMap: ...

    def embed_text(self, names: list[str]) -> torch.Tensor: ...
