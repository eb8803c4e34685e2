"""Training and evaluating the grounding model (object-list mode) with the shared
checkpoint / log pieces: seeded, resumable, progress bar, metrics CSV + plot."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from scene3d.errors import ConfigError
from scene3d.grounding.dataset import GroundingDataset, GroundingExample, TextCache
from scene3d.grounding.evaluation import calibrate_confidence, evaluate, model_forward
from scene3d.grounding.losses import anchor_loss, class_loss, info_nce, referral_loss
from scene3d.grounding.mentions import mention_features
from scene3d.grounding.mirror import mirror_scene, mirror_text, mirror_viewpoint
from scene3d.io.atomic import atomic_write_text
from scene3d.models.grounding import (
    GroundingConfig,
    GroundingOutput,
    GroundingTransformer,
)
from scene3d.structures import Scene
from scene3d.train import Checkpointer, LoopConfig, run_training
from scene3d.train.distributed import barrier, init_from_env, resolve_device
from scene3d.train.precision import resolve_precision

CALIBRATION = "calibration.json"  # in the run folder: the low-confidence threshold (see calibrate_confidence)
VOCABULARY = "vocabulary.json"    # in the run folder: the class names it trained on (the Grounder's target-class lexicon)


@dataclass
class GroundingTrainConfig:
    """Training settings.

    Attributes:
        steps / batch_size / lr / weight_decay / warmup: the optimisation (AdamW, cosine decay).
        text_lr: learning rate of the text encoder when the model fine-tunes it
            (``model.text_finetune``).
        checkpoint_every / eval_every: in steps.
        rotate: random rotation of each scene about z (for sentences without a viewpoint).
        object_dropout: share of a drawn scene's *bystanders* left out of that draw (each
            independently): objects that are not the target, not of its class, not a listed
            anchor and whose class the sentence does not name (:func:`bystanders`). The
            referent stays the same; the context the model sees varies. 0: none.
        token_dropout: share of a drawn sentence's word tokens hidden from the model (left out
            of its attention mask; the first token and the mention features stay). 0: none.
        mirror: share of draws whose scene is reflected across x = 0 with left and right
            swapped in the sentence (:mod:`scene3d.grounding.mirror`). 0: none.
        w_referral / w_class / w_anchor / w_object / w_scene: loss weights (referral CE,
            target class, anchor CE, object-caption InfoNCE, scene-caption InfoNCE).
        source_weights: sampling weight of a referral by its ``Utterance.source`` ("nr3d",
            "sr3d", "scanrefer", "generated", "generated_real"...; 1 when absent): to mix
            sources evenly.
        buckets: referrals are grouped into this many buckets by their scene's object count
            and each step draws its batch from one bucket (chosen by its share of the
            sampling weight), so little of the N^2 attention is spent on padding; every
            referral keeps its overall sampling probability. 1: no bucketing.
        init: a run folder (or checkpoint folder) whose weights start this run (fine-tuning;
            the optimiser and schedule start afresh); None: random initialisation.
        seed: everything random follows from it.
        device: "auto" (the GPU when CUDA is available), "cpu", "cuda" or "cuda:N"
            (:func:`scene3d.train.distributed.resolve_device`).
        precision: "auto" (bf16 autocast on a GPU with bf16, fp32 on the CPU), "fp32", "bf16"
            or "fp16" (loss-scaled; the scaler's state is checkpointed): the model's forward
            pass runs under autocast, the losses in fp32 (:mod:`scene3d.train.precision`).
        dist_timeout_s: under torchrun, how long a rank waits for the others (rank 0
            validates alone) before the run fails.
        model: the network's sizes.
    """

    steps: int = 2500
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 100
    checkpoint_every: int = 250
    eval_every: int = 500
    rotate: bool = True
    object_dropout: float = 0.0
    token_dropout: float = 0.0
    mirror: float = 0.0
    w_referral: float = 1.0
    w_class: float = 0.5
    w_anchor: float = 0.5
    text_lr: float = 2e-5
    w_object: float = 0.2
    w_scene: float = 0.1
    source_weights: dict[str, float] = field(default_factory=dict)
    buckets: int = 4
    init: str | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    dist_timeout_s: float = 1800.0
    model: GroundingConfig = field(default_factory=GroundingConfig)

    def __post_init__(self) -> None:
        for name in ("object_dropout", "token_dropout", "mirror"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def _losses(out: GroundingOutput, batch: list[Drawn], data: GroundingDataset, cache: TextCache, classes: list[str],
            rng: np.random.Generator, anchored: float) -> dict[str, torch.Tensor]:
    """The losses of this process's part of a batch; ``classes``: the target classes of the
    whole (global) batch, the candidates of the target-class loss; ``anchored``: the global
    batch's referrals with anchors per process (the anchor loss's denominator)."""
    device = out.logits.device
    targets = torch.tensor([ex.target for ex in batch], device=device)
    losses = {"referral": referral_loss(out.logits, targets),
              "anchor": anchor_loss(out.anchor_logits, [ex.anchors for ex in batch], anchored)}
    class_embed = cache.embed(classes).to(device)
    idx = torch.tensor([classes.index(ex.scene.objects[ex.target].label) for ex in batch], device=device)
    losses["class"] = class_loss(out.class_query, class_embed, idx)
    # object captions: one captioned object per distinct scene of the batch
    rows, slots, caps, scene_rows, scene_caps, seen = [], [], [], [], [], set()
    for b, ex in enumerate(batch):
        if ex.index in seen:
            continue
        seen.add(ex.index)
        options = [(ex.slots[slot], text) for slot, text in data.object_captions.get(ex.index, [])
                   if slot < len(ex.slots) and 0 <= ex.slots[slot] < out.logits.shape[1]]
        if options:
            slot, text = options[int(rng.integers(len(options)))]
            rows.append(b), slots.append(slot), caps.append(text)
        if ex.index in data.scene_captions:
            scene_rows.append(b), scene_caps.append(data.scene_captions[ex.index])
    def embed(texts: list[str]) -> torch.Tensor:
        return cache.embed(texts).to(device) if texts else out.object_embed.new_zeros(0, out.object_embed.shape[-1])

    losses["object"] = info_nce(out.object_embed[rows, slots], embed(caps))
    losses["scene"] = info_nce(out.scene_embed[scene_rows], embed(scene_caps))
    return losses


@dataclass
class Drawn:
    """One referral as a training step sees it: ``scene`` (the dataset's scene, or a copy
    without some bystanders), ``target`` and ``anchors`` (slots in that scene), ``slots``
    (``(N_original,)`` new slot of each original object, -1 when left out) and ``index`` (the
    scene's index in the dataset)."""

    scene: Scene
    target: int
    anchors: tuple[int, ...]
    slots: np.ndarray
    index: int


def bystanders(scene: Scene, example: GroundingExample) -> np.ndarray:
    """``(M,)`` slots of the objects a referral does not depend on by its own account: not the
    target, not of the target's class, not a listed anchor, and of a class the sentence does
    not name (nor its head noun; :func:`~scene3d.grounding.mentions.mention_features`)."""
    labels = [o.label for o in scene.objects]
    named = mention_features(labels, example.utterance.text)[:, :2].any(axis=1)
    target_label = labels[example.target]
    keep = set(example.anchors) | {example.target}
    return np.array([i for i, label in enumerate(labels)
                     if i not in keep and label != target_label and not named[i]], dtype=np.int64)


def draw_scene(data: GroundingDataset, example: GroundingExample, share: float, rng: np.random.Generator) -> Drawn:
    """``example`` with each of its :func:`bystanders` left out with probability ``share`` (its
    scene itself when none is; points of left-out objects become unassigned, -1)."""
    scene = data.scenes[example.scene]
    n = len(scene.objects)
    drop = bystanders(scene, example) if share > 0 else np.zeros(0, dtype=np.int64)
    drop = drop[rng.random(len(drop)) < share] if len(drop) else drop
    if not len(drop):
        return Drawn(scene, example.target, example.anchors, np.arange(n), example.scene)
    kept = np.ones(n, dtype=bool)
    kept[drop] = False
    slots = np.where(kept, np.cumsum(kept) - 1, -1)
    objects = [o for o, k in zip(scene.objects, kept) if k]
    instance_ids = scene.instance_ids
    if len(instance_ids):
        gone = np.array([scene.objects[i].object_id for i in drop], dtype=np.int32)
        instance_ids = np.where(np.isin(instance_ids, gone), np.int32(-1), instance_ids)
    thinned = replace(scene, objects=objects, instance_ids=instance_ids)
    return Drawn(thinned, int(slots[example.target]), tuple(int(slots[a]) for a in example.anchors), slots,
                 example.scene)


def _buckets(data: GroundingDataset, weights: np.ndarray, count: int) -> list[np.ndarray]:
    """Example indices in ``count`` groups of similar object count (quantiles of the examples)."""
    sizes = np.array([len(data.scenes[ex.scene].objects) for ex in data.examples])
    order = np.argsort(sizes, kind="stable")
    groups = [g for g in np.array_split(order, max(1, min(count, len(order)))) if len(g) and weights[g].sum() > 0]
    return groups


def run_folder(path: str | Path) -> Path:
    """The folder holding ``config.json`` of a run folder, an exported model folder or a
    checkpoint folder inside a run (``<run>/checkpoints/step_N``)."""
    path = Path(path)
    return path if (path / "config.json").is_file() else path.parent.parent


def load_weights(model: GroundingTransformer, path: str | Path, fresh_text_encoder: bool = False) -> Path:
    """Load into ``model`` the weights of a run folder (its latest checkpoint), a checkpoint
    folder (``<run>/checkpoints/step_N``) or an exported model folder (``config.json`` +
    ``model.safetensors``); returns the folder holding ``config.json``.

    ``fresh_text_encoder``: the weights may lack the model's own text encoder (a run without
    ``text_finetune`` starting one with it); the encoder then keeps its pretrained weights.

    Raises:
        ConfigError: no run config, no checkpoint, or weights that do not fit the model.
    """
    path = Path(path)
    if (path / "model.safetensors").is_file():
        weights, run = path / "model.safetensors", run_folder(path)
    else:
        run, latest = path, Checkpointer(path / "checkpoints").latest()
        weights = latest / "model.safetensors" if latest is not None else None
    if not (run / "config.json").is_file():
        raise ConfigError(f"{path} is not a grounding run (no config.json); train one with "
                          "scene3d train-grounding or scene3d demo")
    if weights is None:
        raise ConfigError(f"{path}: no checkpoint in {path / 'checkpoints'}")
    try:
        missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"{weights}: the weights do not fit the model; was it trained with another "
                          f"configuration? ({str(exc).splitlines()[-1].strip()})") from None
    missing = [k for k in missing if not (fresh_text_encoder and k.startswith("text_encoder."))]
    if missing or unexpected:
        raise ConfigError(f"{weights}: weights do not fit the model (missing {missing[:3]}, unexpected "
                          f"{unexpected[:3]}); was it trained with another configuration?")
    return run


class GroundingTask:
    """The grounding model's training task on the shared loop (``scene3d.train.TrainTask``):
    items are (referral index, extra turn of the scene about z); a rank's whole share of the
    batch goes through the model in one pass.

    The batch is drawn from one object-count bucket (chosen by its share of the sampling
    weight) with each referral's source weight, so little of the N^2 attention is spent on
    padding and every referral keeps its overall sampling probability.
    """

    micro_batch = 0

    def __init__(self, data: GroundingDataset, cfg: GroundingTrainConfig, model: GroundingTransformer,
                 cache: TextCache, world_size: int):
        self.data, self.cfg, self.model, self.cache, self.world_size = data, cfg, model, cache, world_size
        self.weights = np.array([cfg.source_weights.get(ex.utterance.source, 1.0) for ex in data.examples])
        if not (self.weights >= 0).all() or self.weights.sum() <= 0:
            raise ValueError(f"source_weights must be >= 0 and leave some referral to sample: {cfg.source_weights}")
        self.groups = _buckets(data, self.weights, cfg.buckets)
        self.group_p = np.array([self.weights[g].sum() for g in self.groups]) / self.weights.sum()

    def draw(self, rng: np.random.Generator, size: int) -> list[tuple[int, float]]:
        """``size`` (referral index, turn in radians): a bucket, then referrals by source weight;
        a random turn for referrals without a viewpoint when ``cfg.rotate``."""
        group = self.groups[int(rng.choice(len(self.groups), p=self.group_p))]
        picks = rng.choice(group, size=size, p=self.weights[group] / self.weights[group].sum())
        return [(int(i), float(rng.uniform(0, 2 * math.pi))
                 if self.cfg.rotate and self.data.examples[i].utterance.viewpoint is None else 0.0) for i in picks]

    def losses(self, model: nn.Module, batch: list[tuple[int, float]], positions: list[int],
               generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The weighted loss of ``positions`` of the batch and its parts; the target-class loss
        scores against the whole batch's classes."""
        cfg, data = self.cfg, self.data
        examples = [data.examples[i] for i, _ in batch]
        classes = sorted({data.scenes[ex.scene].objects[ex.target].label for ex in examples})
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))   # points, captions
        local = [draw_scene(data, examples[p], cfg.object_dropout, rng) for p in positions]
        texts = [examples[p].utterance.text for p in positions]
        viewpoints = [examples[p].utterance.viewpoint for p in positions]
        if cfg.mirror > 0:
            for k in np.flatnonzero(rng.random(len(local)) < cfg.mirror):
                local[k] = replace(local[k], scene=mirror_scene(local[k].scene))
                texts[k], viewpoints[k] = mirror_text(texts[k]), mirror_viewpoint(viewpoints[k])
        out, _ = model_forward(self.model, self.cache, [ex.scene for ex in local], texts, viewpoints,
                               [batch[p][1] for p in positions], rng, net=model, token_dropout=cfg.token_dropout)
        anchored = sum(1 for ex in examples if ex.anchors) / self.world_size
        parts = _losses(out, local, data, self.cache, classes, rng, anchored)
        loss = (cfg.w_referral * parts["referral"] + cfg.w_class * parts["class"] + cfg.w_anchor * parts["anchor"]
                + cfg.w_object * parts["object"] + cfg.w_scene * parts["scene"])
        return {"loss": loss, **{f"loss_{k}": v for k, v in parts.items()}}


def train_grounding(train: GroundingDataset, out_dir: str | Path, cfg: GroundingTrainConfig | None = None,
                    val: GroundingDataset | None = None, cache: TextCache | None = None,
                    progress: bool = True) -> GroundingTransformer:
    """Train (or resume from ``out_dir``'s latest checkpoint) and return the model.

    Writes ``out_dir/config.json``, checkpoints, ``metrics.csv``, ``metrics.png`` and, once
    finished, ``calibration.json`` (the threshold of the "names nothing here" flag). Runs on
    the shared loop (:func:`scene3d.train.run_training`, :class:`GroundingTask`).

    Under ``torchrun`` (see :mod:`scene3d.train.distributed`; gloo on the CPU) each of the W
    processes takes every W-th referral of the step's batch and DDP averages the gradients;
    rank 0 logs, evaluates and writes. The batch and the rotations follow from (seed, step),
    the dropout draws and sampled points from (seed, step, rank), so a run resumes exactly,
    on one process or several; the per-referral losses are those of one process, but the
    caption InfoNCE losses take their negatives within each process's part and the dropout
    draws depend on the number of processes. Every rank resumes from the run folder's latest
    checkpoint; ranks that find different ones stop with
    :class:`~scene3d.train.distributed.ResumeMismatchError` before training.
    """
    from scene3d.models.text_encoder import minilm_text_encoder

    cfg = cfg or GroundingTrainConfig()
    if not train.examples:
        raise ValueError("no training referrals")
    device = resolve_device(cfg.device)
    resolve_precision(cfg.precision, device)       # a bad precision fails before the text cache is built
    info = init_from_env(device, cfg.dist_timeout_s)
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {info.world_size} processes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    cache = cache or TextCache(minilm_text_encoder())
    model = GroundingTransformer(cfg.model).to(device)
    task = GroundingTask(train, cfg, model, cache, info.world_size)
    if info.is_main:
        atomic_write_text(out_dir / "config.json", json.dumps(asdict(cfg), indent=1))
        vocabulary = sorted({o.label for s in train.scenes for o in s.objects} - {""})
        atomic_write_text(out_dir / VOCABULARY, json.dumps(vocabulary, indent=0))
    if Checkpointer(out_dir / "checkpoints").latest() is None and cfg.init:
        load_weights(model, cfg.init, fresh_text_encoder=True)
    texts = {ex.utterance.text for ex in train.examples} | {s.objects[k].label for s in train.scenes
                                                             for k in range(len(s.objects))}
    texts |= {t for caps in train.object_captions.values() for _, t in caps} | set(train.scene_captions.values())
    if cfg.mirror > 0:
        texts |= {mirror_text(ex.utterance.text) for ex in train.examples}
    if val is not None:
        texts |= {ex.utterance.text for ex in val.examples} | {o.label for s in val.scenes for o in s.objects}
    if info.is_main or cache.folder is None:
        cache.add(texts, progress=progress and info.is_main)
        cache.save()
    barrier(info)
    if not info.is_main and cache.folder is not None:
        cache.load()
    text = model.text_encoder
    text_params = {id(p) for p in text.parameters()} if text is not None else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in text_params]}]
    if text is not None:
        groups.append({"params": list(text.parameters()), "lr": cfg.text_lr})

    def validate(step: int) -> dict[str, float]:
        if val is None or not val.examples or not (step % cfg.eval_every == 0 or step == cfg.steps):
            return {}
        return {"val_accuracy": evaluate(model, cache, val).referit3d.overall}

    loop = LoopConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                      warmup=cfg.warmup, grad_clip=1.0, checkpoint_every=cfg.checkpoint_every, log_every=10,
                      seed=cfg.seed, dist_timeout_s=cfg.dist_timeout_s)
    # every loss stays tied to its head even when it has nothing to score, so all processes produce
    # the same gradients' set; unused parameters are only the text encoder's pooler when fine-tuned
    run_training(model, task, loop, out_dir, progress=progress, device=device, precision=cfg.precision,
                 find_unused_parameters=text is not None, param_groups=groups, on_step=validate,
                 desc="train grounding")
    if info.is_main:
        calibration = calibrate_confidence(model, cache, train, seed=cfg.seed)
        atomic_write_text(out_dir / CALIBRATION, json.dumps(calibration, indent=1))
    return model
