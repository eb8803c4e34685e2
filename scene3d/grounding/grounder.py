"""The public grounding API: ``Grounder.from_checkpoint(run).ground(scene, "the chair by the window")``."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import save_file

from scene3d.errors import ConfigError
from scene3d.grounding.data import class_distribution
from scene3d.grounding.dataset import TextCache
from scene3d.grounding.evaluation import rotation_averaged
from scene3d.grounding.mentions import Vocabulary, class_presence
from scene3d.grounding.trainer import CALIBRATION, VOCABULARY, load_weights, run_folder
from scene3d.io.atomic import atomic_dir
from scene3d.io.text_store import TextEmbeddingStore
from scene3d.models.grounding import (
    GroundingConfig,
    GroundingEnsemble,
    GroundingOutput,
    GroundingTransformer,
)
from scene3d.models.inference import Traced
from scene3d.models.text_encoder import TextEncoder, minilm_text_encoder
from scene3d.structures import GroundingResult, RankedObject, Scene
from scene3d.train.distributed import resolve_device

#: The pretrained model shipped inside the package (see its MODEL_CARD.md).
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "grounding"


def export_model(run: str | Path | list[str | Path], out: str | Path, rotations: int | None = None) -> Path:
    """Write a run's latest weights (or a checkpoint folder's) as a self-contained model folder:
    ``config.json``, ``model.safetensors`` (weights only, float32), ``calibration.json`` and
    ``vocabulary.json`` when the run has them. Loads back with :meth:`Grounder.from_checkpoint`.

    A list of runs (of one model configuration) is written as one ensemble
    (:class:`~scene3d.models.grounding.GroundingEnsemble`): ``config.json`` gains ``members``
    (their count) and ``member_runs``; the vocabulary is the union of the members'; the
    low-confidence threshold is the mean of the members' thresholds (the ensemble's class
    match is the mean of theirs), so measure its flag rates before shipping it.

    ``rotations``: the turns the loaded :class:`Grounder` averages over (``config.json``'s
    ``rotations``; None keeps the run's, by default 4). An ensemble of two with 2 turns costs
    what one model with 4 turns does.

    Raises:
        ConfigError: ``run`` is not a grounding run, or the runs do not share one configuration.
    """
    runs = [Path(r) for r in run] if isinstance(run, (list, tuple)) else [Path(run)]
    if not runs:
        raise ConfigError("export-grounding: no run given")
    if rotations is not None and rotations < 1:
        raise ConfigError(f"export-grounding: rotations must be >= 1, got {rotations}")
    grounders = [Grounder.from_checkpoint(r, device="cpu", int8=False) for r in runs]
    folders = [run_folder(r) for r in runs]
    config = json.loads((folders[0] / "config.json").read_text())
    if len(runs) > 1:
        if any(g.model.cfg != grounders[0].model.cfg or isinstance(g.model, GroundingEnsemble) for g in grounders):
            raise ConfigError("export-grounding: an ensemble takes single runs of one model configuration")
        model = GroundingEnsemble([g.model for g in grounders])
        config.update(members=len(runs), member_runs=[str(f) for f in folders])
    else:
        model = grounders[0].model
    if rotations is not None:
        config["rotations"] = int(rotations)
    thresholds = [g.class_match_threshold for g in grounders]
    vocabulary = sorted(set().union(*(json.loads((f / VOCABULARY).read_text()) for f in folders
                                      if (f / VOCABULARY).is_file())))
    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        if len(runs) == 1 and (folders[0] / CALIBRATION).is_file():
            shutil.copyfile(folders[0] / CALIBRATION, tmp / CALIBRATION)
        elif None not in thresholds:
            (tmp / CALIBRATION).write_text(json.dumps({"class_match_threshold": sum(thresholds) / len(thresholds),
                                                       "from": "mean of the members' thresholds"}, indent=1))
        if vocabulary:
            (tmp / VOCABULARY).write_text(json.dumps(vocabulary))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    return out


def _output_fields(out: GroundingOutput) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(out, f.name) for f in fields(out))


def _as_output(out: tuple[torch.Tensor, ...]) -> GroundingOutput:
    return GroundingOutput(*out)


class Grounder:
    """Grounds sentences in scenes with a trained :class:`GroundingTransformer`.

    Args:
        model: the trained network.
        text_encoder: the encoder it was trained with (default: all-MiniLM-L6-v2).
        class_match_threshold: below this best class match a result is flagged
            ``low_confidence`` (None: never flagged), unless the class the query names
            first is in the scene.
        vocabulary: class names the query's target class is looked for among (with the
            scene's own labels and their synonyms, :mod:`scene3d.grounding.mentions`).
        rotations: answers are averaged over this many turns of the scene about z
            (:func:`~scene3d.grounding.evaluation.rotation_averaged`; 1: none).
        device: where the model runs: "auto" (the GPU when CUDA is available), "cpu",
            "cuda" or "cuda:N" (:func:`scene3d.train.distributed.resolve_device`).
        int8: encode sentences with an int8 twin of the text encoder (:meth:`TextEncoder.int8`,
            about 2x faster on the CPU); class names stay float32. Answers change slightly:
            measure a model with it (the packaged one: ``benchmarks/RESULTS.md``). The text
            encoder must be frozen and on the CPU (it is, by default, whatever ``device``).

    :meth:`ground` runs the model through TorchScript traces of itself
    (:class:`scene3d.models.inference.Traced`: the same answers, less Python per query).
    """

    def __init__(self, model: GroundingTransformer, text_encoder: TextEncoder | None = None,
                 class_match_threshold: float | None = None, vocabulary: list[str] | None = None,
                 rotations: int = 4, device: str = "auto", int8: bool = False):
        self.model = model.to(resolve_device(device)).eval()
        self.net = Traced(self.model, _output_fields, _as_output)
        self.rotations = rotations
        encoder = text_encoder or minilm_text_encoder()
        self.cache = TextCache(encoder, store=TextEmbeddingStore.for_encoder(encoder),   # class names across runs
                               sentence_encoder=encoder.int8() if int8 else None)
        self.class_match_threshold = class_match_threshold
        self.vocabulary = Vocabulary(list(vocabulary or []))

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto",
                        int8: bool | None = None) -> Grounder:
        """Load a training run folder (its latest checkpoint), one checkpoint folder
        (``<run>/checkpoints/step_N``) or an exported model folder (:func:`export_model`, a
        single model or an ensemble); None: the pretrained model packaged with scene3d
        (``scene3d/pretrained/grounding``). ``device`` and ``int8``: as in :class:`Grounder`;
        ``int8=None`` takes the folder's ``config.json`` ``int8`` (the packaged model: true;
        default false).

        Raises:
            ConfigError: no run config, no checkpoint, or an unreadable one; ``int8`` not a
                true / false / None.
        """
        if int8 is not None and not isinstance(int8, bool):
            raise ConfigError(f"int8 must be true or false (or null: the model folder's choice), got {int8!r}")
        path = Path(path) if path is not None else PRETRAINED
        run = run_folder(path)
        if not (run / "config.json").is_file():
            raise ConfigError(f"{path} is not a grounding run (no config.json); train one with "
                              "scene3d train-grounding or scene3d demo")
        cfg = json.loads((run / "config.json").read_text())
        cfg["model"].setdefault("mentions", False)   # runs from before the mention features
        members = [GroundingTransformer(GroundingConfig(**cfg["model"])) for _ in range(cfg.get("members", 1))]
        model = members[0] if len(members) == 1 else GroundingEnsemble(members)
        path = load_weights(model, path)
        threshold = None
        if (path / CALIBRATION).is_file():
            threshold = json.loads((path / CALIBRATION).read_text()).get("class_match_threshold")
        vocabulary = json.loads((path / VOCABULARY).read_text()) if (path / VOCABULARY).is_file() else []
        if int8 is None:
            int8 = cfg.get("int8", False) is True
        return cls(model, class_match_threshold=threshold, vocabulary=vocabulary, rotations=cfg.get("rotations", 4),
                   device=device, int8=int8)

    def ground(self, scene: Scene, query: str, viewpoint: tuple[float, ...] | None = None,
               top_k: int = 5, anchor_threshold: float = 0.25) -> GroundingResult:
        """Rank the objects of ``scene`` for ``query``.

        Args:
            scene: any scene with objects (points are not needed).
            query: the sentence.
            viewpoint: (x, y, z, dx, dy, dz) observer (metres, world frame) for
                view-dependent sentences, or None.
            top_k: how many objects to return.
            anchor_threshold: objects whose anchor probability reaches it are reported as
                anchors (at most 3).

        Returns:
            A GroundingResult: objects with their probability among the scene's objects,
            best first; anchors; ``low_confidence`` when the query names no class of the
            scene; empty ``ranked`` when the scene has no objects. Predicted objects (instance
            proposals with ``label_scores``) count as each of their classes with its
            probability: in the model's input and class match, and in the flag (the class
            the query asks for is present when some object is of it with probability >= 0.5,
            :func:`~scene3d.grounding.mentions.class_presence`).

        Raises:
            ValueError: an empty query.
        """
        if not query or not query.strip():
            raise ValueError("the query is empty")
        t0 = time.perf_counter()
        if not scene.objects:
            return GroundingResult(query=query, scene_id=scene.scene_id, ranked=[], seconds=time.perf_counter() - t0)
        with torch.inference_mode():
            log_probs, out, objects = rotation_averaged(self.net, self.cache, [scene], [query.strip()], [viewpoint],
                                                        self.rotations)
        valid = objects.mask[0]
        scores = log_probs[0, valid].softmax(-1)
        match = float(out.class_match[0, valid].max())
        order = scores.argsort(descending=True)[:top_k].tolist()
        ranked = [RankedObject(object_id=scene.objects[i].object_id, label=scene.objects[i].label,
                               score=float(scores[i]), box=scene.objects[i].box) for i in order]
        anchor_p = out.anchor_logits[0, valid].softmax(-1)
        anchors = [RankedObject(object_id=scene.objects[i].object_id, label=scene.objects[i].label,
                                score=float(anchor_p[i]), box=scene.objects[i].box)
                   for i in anchor_p.argsort(descending=True)[:3].tolist() if anchor_p[i] >= anchor_threshold]
        classes = [class_distribution(o) for o in scene.objects]
        asked = self.vocabulary.first_named(query, [name for dist in classes for name, _ in dist])
        low = (self.class_match_threshold is not None and match < self.class_match_threshold
               and (asked is None or class_presence(asked, classes) < 0.5))
        return GroundingResult(query=query, scene_id=scene.scene_id, ranked=ranked, seconds=time.perf_counter() - t0,
                               low_confidence=low, class_match=match, anchors=anchors, asked_class=asked)
