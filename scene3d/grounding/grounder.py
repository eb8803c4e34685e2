"""The public grounding API: ``Grounder.load(run).ground(scene, "the chair by the window")``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from scene3d.errors import ConfigError, SceneFormatError
from scene3d.grounding.dataset import TextCache
from scene3d.grounding.trainer import model_forward
from scene3d.models.grounding import GroundingConfig, GroundingTransformer
from scene3d.models.text_encoder import TextEncoder, minilm_text_encoder
from scene3d.structures import GroundingResult, RankedObject, Scene
from scene3d.train import Checkpointer


class Grounder:
    """Grounds sentences in scenes with a trained :class:`GroundingTransformer`.

    Args:
        model: the trained network.
        text_encoder: the encoder it was trained with (default: all-MiniLM-L6-v2).
    """

    def __init__(self, model: GroundingTransformer, text_encoder: TextEncoder | None = None):
        self.model = model.eval()
        self.cache = TextCache(text_encoder or minilm_text_encoder())

    @classmethod
    def load(cls, run: str | Path) -> Grounder:
        """Load the latest checkpoint of a training run folder.

        Raises:
            ConfigError: the folder has no config.json or checkpoint.
        """
        run = Path(run)
        if not (run / "config.json").is_file():
            raise ConfigError(f"{run} is not a grounding run (no config.json); train one with scene3d train-grounding")
        cfg = json.loads((run / "config.json").read_text())
        model = GroundingTransformer(GroundingConfig(**cfg["model"]))
        try:
            Checkpointer(run / "checkpoints").load(model, restore_rng=False)
        except SceneFormatError as exc:
            raise ConfigError(f"{run}: {exc}") from None
        return cls(model)

    def ground(self, scene: Scene, query: str, viewpoint: tuple[float, ...] | None = None,
               top_k: int = 5) -> GroundingResult:
        """Rank the objects of ``scene`` for ``query``.

        Args:
            scene: any scene with objects (points are not needed).
            query: the sentence.
            viewpoint: (x, y, z, dx, dy, dz) observer for view-dependent sentences, or None.
            top_k: how many objects to return.

        Returns:
            A GroundingResult; empty ``ranked`` when the scene has no objects.

        Raises:
            ValueError: an empty query.
        """
        if not query or not query.strip():
            raise ValueError("the query is empty")
        t0 = time.perf_counter()
        if not scene.objects:
            return GroundingResult(query=query, scene_id=scene.scene_id, ranked=[], seconds=time.perf_counter() - t0)
        with torch.no_grad():
            out, objects = model_forward(self.model, self.cache, [scene], [query.strip()], [viewpoint])
        scores = out.logits[0, objects.mask[0]].softmax(-1)
        order = scores.argsort(descending=True)[:top_k].tolist()
        ranked = [RankedObject(object_id=scene.objects[i].object_id, label=scene.objects[i].label,
                               score=float(scores[i]), box=scene.objects[i].box) for i in order]
        return GroundingResult(query=query, scene_id=scene.scene_id, ranked=ranked, seconds=time.perf_counter() - t0)
