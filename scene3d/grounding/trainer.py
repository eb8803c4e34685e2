"""Training and evaluating the grounding model (object-list mode) with the shared
checkpoint / log pieces: seeded, resumable, progress bar, metrics CSV + plot."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scene3d.grounding.data import collate_objects, reference_frame
from scene3d.grounding.dataset import GroundingDataset, TextCache
from scene3d.grounding.losses import class_loss, info_nce, referral_loss
from scene3d.grounding.metrics import ReferIt3DScores, class_random_floor, referit3d_accuracy
from scene3d.io.atomic import atomic_write_text
from scene3d.models.grounding import GroundingConfig, GroundingOutput, GroundingTransformer
from scene3d.structures import Scene
from scene3d.train import Checkpointer, MetricLog, TrainState


@dataclass
class GroundingTrainConfig:
    """Training settings.

    Attributes:
        steps / batch_size / lr / weight_decay / warmup: the optimisation (AdamW, cosine decay).
        checkpoint_every / eval_every: in steps.
        rotate: random rotation of each scene about z (for sentences without a viewpoint).
        w_referral / w_class / w_object / w_scene: loss weights (referral CE, target class,
            object-caption InfoNCE, scene-caption InfoNCE).
        seed: everything random follows from it.
        model: the network's sizes.
    """

    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 100
    checkpoint_every: int = 250
    eval_every: int = 500
    rotate: bool = True
    w_referral: float = 1.0
    w_class: float = 0.5
    w_object: float = 0.2
    w_scene: float = 0.1
    seed: int = 0
    model: GroundingConfig = field(default_factory=GroundingConfig)


def model_forward(model: GroundingTransformer, cache: TextCache, scenes: list[Scene], texts: list[str],
                  viewpoints: list[tuple[float, ...] | None], yaw_jitter: list[float] | None = None):
    """Run the model on B (scene, text) pairs; returns (output, object batch)."""
    frames = []
    for k, (scene, vp) in enumerate(zip(scenes, viewpoints)):
        origin, yaw = reference_frame(scene, vp)
        frames.append((origin, yaw + (yaw_jitter[k] if yaw_jitter else 0.0)))
    device = next(model.parameters()).device
    objects = collate_objects(scenes, frames).to(device)
    flat = [label for row in objects.labels for label in row if label]
    table = dict(zip(sorted(set(flat)), cache.embed(sorted(set(flat))))) if flat else {}
    zero = torch.zeros(cache.encoder.dim)
    label_embed = torch.stack([torch.stack([table.get(x, zero) for x in row]) for row in objects.labels]).to(device)
    tokens, mask, pooled = (x.to(device) for x in cache.batch(texts))
    return model(objects.geometry, label_embed, objects.mask, tokens, mask, pooled), objects


def _losses(out: GroundingOutput, batch, data: GroundingDataset, cache: TextCache, cfg: GroundingTrainConfig,
            rng: np.random.Generator) -> dict[str, torch.Tensor]:
    device = out.logits.device
    targets = torch.tensor([ex.target for ex in batch], device=device)
    losses = {"referral": referral_loss(out.logits, targets)}
    # target class among the classes of the batch
    classes = sorted({data.scenes[ex.scene].objects[ex.target].label for ex in batch})
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
    zero = out.logits.new_zeros(())
    losses["object"] = info_nce(out.object_embed[rows, slots], cache.embed(caps).to(device)) if caps else zero
    losses["scene"] = info_nce(out.scene_embed[scene_rows], cache.embed(scene_caps).to(device)) if scene_caps else zero
    return losses


def predict(model: GroundingTransformer, cache: TextCache, data: GroundingDataset, batch_size: int = 64) -> list[int]:
    """Predicted object id for every example of ``data`` (eval mode, no gradients)."""
    model.eval()
    preds: list[int] = []
    with torch.no_grad():
        for i in range(0, len(data.examples), batch_size):
            chunk = data.examples[i:i + batch_size]
            out, objects = model_forward(model, cache, [data.scenes[ex.scene] for ex in chunk],
                                         [ex.utterance.text for ex in chunk], [ex.utterance.viewpoint for ex in chunk])
            best = out.logits.argmax(dim=1)
            preds += objects.object_ids[torch.arange(len(chunk)), best].tolist()
    return preds


def evaluate(model: GroundingTransformer, cache: TextCache, data: GroundingDataset) -> tuple[ReferIt3DScores, ReferIt3DScores]:
    """(model scores, oracle-class random floor) under the ReferIt3D protocol."""
    utts = [ex.utterance for ex in data.examples]
    scenes = {s.scene_id: s for s in data.scenes}
    return referit3d_accuracy(utts, predict(model, cache, data), scenes), class_random_floor(utts, scenes)[0]


def train_grounding(train: GroundingDataset, out_dir: str | Path, cfg: GroundingTrainConfig | None = None,
                    val: GroundingDataset | None = None, cache: TextCache | None = None,
                    progress: bool = True) -> GroundingTransformer:
    """Train (or resume from ``out_dir``'s latest checkpoint) and return the model.

    Writes ``out_dir/config.json``, checkpoints, ``metrics.csv`` and ``metrics.png``.
    """
    from scene3d.models.text_encoder import minilm_text_encoder

    cfg = cfg or GroundingTrainConfig()
    if not train.examples:
        raise ValueError("no training referrals")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.json", json.dumps(asdict(cfg), indent=1))
    torch.manual_seed(cfg.seed)
    cache = cache or TextCache(minilm_text_encoder())
    model = GroundingTransformer(cfg.model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup)
                                              * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    ckpt = Checkpointer(out_dir / "checkpoints")
    state = TrainState()
    if ckpt.latest() is not None:
        state = ckpt.load(model, opt)
        sched.last_epoch = state.step - 1
    log = MetricLog(out_dir, resume_step=state.step)
    rng = np.random.default_rng([cfg.seed, state.step])
    bar = tqdm(total=cfg.steps, initial=state.step, desc="train grounding", unit="step", disable=not progress)
    while state.step < cfg.steps:
        model.train()
        batch = [train.examples[i] for i in rng.integers(len(train.examples), size=cfg.batch_size)]
        jitter = [float(rng.uniform(0, 2 * math.pi)) if cfg.rotate and ex.utterance.viewpoint is None else 0.0
                  for ex in batch]
        out, _ = model_forward(model, cache, [train.scenes[ex.scene] for ex in batch],
                               [ex.utterance.text for ex in batch], [ex.utterance.viewpoint for ex in batch], jitter)
        parts = _losses(out, batch, train, cache, cfg, rng)
        loss = (cfg.w_referral * parts["referral"] + cfg.w_class * parts["class"]
                + cfg.w_object * parts["object"] + cfg.w_scene * parts["scene"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        state.step += 1
        bar.update()
        values = {"loss": loss.item(), **{f"loss_{k}": v.item() for k, v in parts.items()}}
        if val is not None and val.examples and (state.step % cfg.eval_every == 0 or state.step == cfg.steps):
            scores, _ = evaluate(model, cache, val)
            values["val_accuracy"] = scores.overall
            bar.set_postfix(val=f"{scores.overall:.3f}")
        if state.step % 10 == 0 or "val_accuracy" in values:
            log.log(state.step, **values)
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            ckpt.save(model, opt, state)
    bar.close()
    log.plot()
    return model
