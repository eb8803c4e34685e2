"""Training and evaluating the grounding model (object-list mode) with the shared
checkpoint / log pieces: seeded, resumable, progress bar, metrics CSV + plot."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from scene3d.errors import ConfigError
from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.evaluation import calibrate_confidence, evaluate, model_forward
from scene3d.grounding.losses import anchor_loss, class_loss, info_nce, referral_loss
from scene3d.io.atomic import atomic_write_text
from scene3d.models.grounding import (
    GroundingConfig,
    GroundingOutput,
    GroundingTransformer,
)
from scene3d.train import Checkpointer, MetricLog, TrainState
from scene3d.train.distributed import (
    agree_on_step,
    barrier,
    init_from_env,
    mean_over_ranks,
    resolve_device,
    seed_step,
)
from scene3d.train.precision import for_training, resolve_precision

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


def _losses(out: GroundingOutput, batch, data: GroundingDataset, cache: TextCache, classes: list[str],
            rng: np.random.Generator, anchored: float) -> dict[str, torch.Tensor]:
    """The losses of this process's part of a batch; ``classes``: the target classes of the
    whole (global) batch, the candidates of the target-class loss; ``anchored``: the global
    batch's referrals with anchors per process (the anchor loss's denominator)."""
    device = out.logits.device
    targets = torch.tensor([ex.target for ex in batch], device=device)
    losses = {"referral": referral_loss(out.logits, targets),
              "anchor": anchor_loss(out.anchor_logits, [ex.anchors for ex in batch], anchored)}
    class_embed = cache.embed(classes).to(device)
    idx = torch.tensor([classes.index(data.scenes[ex.scene].objects[ex.target].label) for ex in batch], device=device)
    losses["class"] = class_loss(out.class_query, class_embed, idx)
    # object captions: one captioned object per distinct scene of the batch
    rows, slots, caps, scene_rows, scene_caps, seen = [], [], [], [], [], set()
    for b, ex in enumerate(batch):
        if ex.scene in seen:
            continue
        seen.add(ex.scene)
        options = [c for c in data.object_captions.get(ex.scene, []) if c[0] < out.logits.shape[1]]
        if options:
            slot, text = options[int(rng.integers(len(options)))]
            rows.append(b), slots.append(slot), caps.append(text)
        if ex.scene in data.scene_captions:
            scene_rows.append(b), scene_caps.append(data.scene_captions[ex.scene])
    def embed(texts: list[str]) -> torch.Tensor:
        return cache.embed(texts).to(device) if texts else out.object_embed.new_zeros(0, out.object_embed.shape[-1])

    losses["object"] = info_nce(out.object_embed[rows, slots], embed(caps))
    losses["scene"] = info_nce(out.scene_embed[scene_rows], embed(scene_caps))
    return losses


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


def train_grounding(train: GroundingDataset, out_dir: str | Path, cfg: GroundingTrainConfig | None = None,
                    val: GroundingDataset | None = None, cache: TextCache | None = None,
                    progress: bool = True) -> GroundingTransformer:
    """Train (or resume from ``out_dir``'s latest checkpoint) and return the model.

    Writes ``out_dir/config.json``, checkpoints, ``metrics.csv``, ``metrics.png`` and, once
    finished, ``calibration.json`` (the threshold of the "names nothing here" flag).

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
    amp = resolve_precision(cfg.precision, device)
    info = init_from_env(device, cfg.dist_timeout_s)
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {info.world_size} processes")
    weights = np.array([cfg.source_weights.get(ex.utterance.source, 1.0) for ex in train.examples])
    if not (weights >= 0).all() or weights.sum() <= 0:
        raise ValueError(f"source_weights must be >= 0 and leave some referral to sample: {cfg.source_weights}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if info.is_main:
        atomic_write_text(out_dir / "config.json", json.dumps(asdict(cfg), indent=1))
        vocabulary = sorted({o.label for s in train.scenes for o in s.objects} - {""})
        atomic_write_text(out_dir / VOCABULARY, json.dumps(vocabulary, indent=0))
    torch.manual_seed(cfg.seed)
    cache = cache or TextCache(minilm_text_encoder())
    model = GroundingTransformer(cfg.model).to(device)
    text = model.text_encoder
    text_params = {id(p) for p in text.parameters()} if text is not None else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in text_params]}]
    if text is not None:
        groups.append({"params": list(text.parameters()), "lr": cfg.text_lr})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup)
                                              * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    scaler = amp.grad_scaler()
    ckpt = Checkpointer(out_dir / "checkpoints")
    state = TrainState()
    if ckpt.latest() is not None:
        state = ckpt.load(model, opt, scaler=scaler)
        sched.last_epoch = state.step   # the optimiser's restored lr is the one of this step
    elif cfg.init:
        load_weights(model, cfg.init, fresh_text_encoder=True)
    agree_on_step(state.step, info, str(out_dir))
    texts = {ex.utterance.text for ex in train.examples} | {s.objects[k].label for s in train.scenes
                                                             for k in range(len(s.objects))}
    texts |= {t for caps in train.object_captions.values() for _, t in caps} | set(train.scene_captions.values())
    if val is not None:
        texts |= {ex.utterance.text for ex in val.examples} | {o.label for s in val.scenes for o in s.objects}
    if info.is_main or cache.folder is None:
        cache.add(texts, progress=progress and info.is_main)
        cache.save()
    barrier(info)
    if not info.is_main and cache.folder is not None:
        cache.load()
    # every loss stays tied to its head even when it has nothing to score, so all processes produce
    # the same gradients' set; unused parameters are only the text encoder's pooler when fine-tuned
    net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                              find_unused_parameters=model.text_encoder is not None) \
        if info.world_size > 1 else model
    net = for_training(net, amp)   # autocast around the forward pass; outputs (and so the losses) in fp32
    log = MetricLog(out_dir, resume_step=state.step) if info.is_main else None
    mine = list(range(info.rank, cfg.batch_size, info.world_size))
    groups = _buckets(train, weights, cfg.buckets)
    group_p = np.array([weights[g].sum() for g in groups]) / weights.sum()
    bar = tqdm(total=cfg.steps, initial=state.step, desc="train grounding", unit="step",
               disable=not (progress and info.is_main))
    while state.step < cfg.steps:
        model.train()
        rng = np.random.default_rng([cfg.seed, state.step])
        group = groups[int(rng.choice(len(groups), p=group_p))]
        picks = rng.choice(group, size=cfg.batch_size, p=weights[group] / weights[group].sum())
        batch = [train.examples[i] for i in picks]
        jitter = [float(rng.uniform(0, 2 * math.pi)) if cfg.rotate and ex.utterance.viewpoint is None else 0.0
                  for ex in batch]
        classes = sorted({train.scenes[ex.scene].objects[ex.target].label for ex in batch})
        local, local_jitter = [batch[i] for i in mine], [jitter[i] for i in mine]
        part_rng = np.random.default_rng([cfg.seed, state.step, info.rank + 1])  # points, captions
        seed_step(cfg.seed, state.step, info.rank)                                 # dropout
        out, _ = model_forward(model, cache, [train.scenes[ex.scene] for ex in local],
                               [ex.utterance.text for ex in local], [ex.utterance.viewpoint for ex in local],
                               local_jitter, part_rng, net=net)
        anchored = sum(1 for ex in batch if ex.anchors) / info.world_size
        parts = _losses(out, local, train, cache, classes, part_rng, anchored)
        loss = (cfg.w_referral * parts["referral"] + cfg.w_class * parts["class"] + cfg.w_anchor * parts["anchor"]
                + cfg.w_object * parts["object"] + cfg.w_scene * parts["scene"])
        opt.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)                          # clip the true gradients
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(opt)                              # skipped when a gradient overflowed
            scaler.update()
        else:
            opt.step()
        sched.step()
        state.step += 1
        bar.update()
        values = mean_over_ranks({"loss": loss.item(), **{f"loss_{k}": v.item() for k, v in parts.items()}}, info)
        if (info.is_main and val is not None and val.examples
                and (state.step % cfg.eval_every == 0 or state.step == cfg.steps)):
            scores = evaluate(model, cache, val).referit3d
            values["val_accuracy"] = scores.overall
            bar.set_postfix(val=f"{scores.overall:.3f}")
        if log is not None and (state.step % 10 == 0 or state.step == cfg.steps or "val_accuracy" in values):
            log.log(state.step, **values)
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            if info.is_main:
                ckpt.save(model, opt, state, scaler=scaler)
            barrier(info)
    bar.close()
    if info.is_main:
        log.plot()
        calibration = calibrate_confidence(model, cache, train, seed=cfg.seed)
        atomic_write_text(out_dir / CALIBRATION, json.dumps(calibration, indent=1))
    return model
