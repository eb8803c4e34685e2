"""Commands of grounding: ``train-grounding``, ``eval-grounding``, ``ground``,
``export-grounding``, and the data each trains or evaluates on."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from scene3d.config import dataclass_from, need
from scene3d.errors import ConfigError
from scene3d.runtime import is_main_process


def synthetic_grounding(data: Path, val_split: str):
    """(scenes by id, utterances, held-out scene ids) of a generated dataset with language."""
    from scene3d.io import load_scene_folders, read_utterances_jsonl
    from scene3d.io.scene_folder import read_split

    return load_scene_folders(data), read_utterances_jsonl(data / "language.jsonl"), read_split(data, val_split)


def _grounding_data(cfg: DictConfig):
    """(train, validation) GroundingDatasets of train-grounding: the synthetic dataset
    (``data``, its ``val_split`` held out) and the real language (``real.*``, a share of its
    scenes held out and listed in ``<out>/real_held_out.txt``)."""
    from scene3d.grounding import GroundingDataset
    from scene3d.grounding.real import (
        load_real_grounding,
        read_scene_list,
        split_scene_ids,
    )
    from scene3d.io.atomic import atomic_write_text

    scenes, utts, held = {}, [], set()
    if cfg.data:
        scenes, utts, held = synthetic_grounding(Path(cfg.data), cfg.val_split)
    if cfg.real.language:
        real_scenes, real_utts = load_real_grounding(cfg.real.language, need(cfg.real, "objects"))
        if isinstance(cfg.real.held_out, str):      # a scene list (e.g. an earlier run's real_held_out.txt)
            real_held = read_scene_list(cfg.real.held_out) & set(real_scenes)
        else:
            _, real_held = split_scene_ids(real_scenes, cfg.real.held_out, cfg.real.seed)
        out = Path(need(cfg, "out"))
        if is_main_process():
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "real_held_out.txt", "".join(f"{k}\n" for k in sorted(real_held)))
        scenes, utts, held = {**scenes, **real_scenes}, utts + real_utts, held | real_held
    if not scenes:
        raise ConfigError("nothing to train on: give data=<synthetic dataset> and/or real.language=[...]")
    train = GroundingDataset.build({k: v for k, v in scenes.items() if k not in held}, utts)
    val = GroundingDataset.build({k: v for k, v in scenes.items() if k in held}, utts)
    return train, val


def cmd_train_grounding(cfg: DictConfig) -> int:
    from collections import Counter

    from scene3d.grounding import GroundingDataset, TextCache, evaluate
    from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
    from scene3d.models.grounding import GroundingConfig
    from scene3d.models.text_encoder import minilm_text_encoder
    from scene3d.train import resolve_device, resolve_precision

    resolve_precision(cfg.precision, resolve_device(cfg.device))   # a bad setting fails before the data loads
    model = dataclass_from(GroundingConfig, cfg.model, "model")
    tcfg = dataclass_from(GroundingTrainConfig, cfg, "train-grounding", group=False, model=model,
                          source_weights=dict(cfg.source_weights), device=str(cfg.device),
                          precision=str(cfg.precision))
    train, val = _grounding_data(cfg)
    sources = Counter(ex.utterance.source for ex in train.examples)
    if is_main_process():
        print(f"train-grounding: {len(train.examples)} referrals in {len(train.scenes)} scenes "
              f"({', '.join(f'{k} {v}' for k, v in sorted(sources.items()))}); "
              f"validation {len(val.examples)} in {len(val.scenes)}")
    cache = TextCache(minilm_text_encoder(), folder=cfg.text_cache or Path(cfg.out) / "text_cache")
    model = train_grounding(train, need(cfg, "out"), tcfg, val=val, cache=cache)
    if not is_main_process():  # torchrun: rank 0 reports
        return 0
    for source in sorted({ex.utterance.source for ex in val.examples}):
        part = GroundingDataset(val.scenes, [ex for ex in val.examples if ex.utterance.source == source])
        print(f"held out, {source} ({len(part.examples)} referrals):")
        print(evaluate(model, cache, part).table())
    return 0


def _scene_source(path: Path, scene_ids: set[str], what: str) -> dict:
    """``{scene id: Scene}`` of ``scene_ids`` from an object list (.json / .json.gz) or a folder of
    scene folders (``what`` names the option in errors)."""
    from scene3d.io import load_gt_object_scenes, load_scene_folders

    if path.is_dir():
        return load_scene_folders(path, scene_ids)
    if not path.is_file():
        raise ConfigError(f"{what}={path}: not found (an object list .json[.gz] or a folder of scene folders)")
    return load_gt_object_scenes(path, scene_ids=scene_ids)


def _label_temperature(cfg: DictConfig) -> float:
    """``label_temperature=`` checked (>= 0): how predicted objects' class scores are sharpened."""
    if cfg.label_temperature < 0:
        raise ConfigError(f"label_temperature must be >= 0, got {cfg.label_temperature}")
    return float(cfg.label_temperature)


def _check_proposal_options(cfg: DictConfig) -> None:
    """The ``proposals=`` options that can be checked before anything loads (a typo answers at once)."""
    if cfg.proposals is None or cfg.proposals is False:
        return
    _label_temperature(cfg)
    if cfg.proposals is True:
        if not Path(need(cfg, "objects")).is_dir():
            raise ConfigError(f"proposals=true proposes objects from the scenes' points, so objects= must be a folder of "
                              f"scene folders; {cfg.objects} is not (object lists have no points). Give "
                              f"proposals=<folder> written by segment-instances instead")
    elif cfg.proposal_checkpoint is not None:
        raise ConfigError("proposal_checkpoint= labels on-the-fly proposals: it needs proposals=true")
    elif not Path(cfg.proposals).exists():
        raise ConfigError(f"proposals={cfg.proposals}: not found (a folder of scene folders with predicted objects)")


def _proposal_scenes(cfg: DictConfig, truth: dict) -> dict | None:
    """``{scene id: Scene with predicted objects}`` for the detection protocol, or None without ``proposals=``.

    ``proposals=<folder>`` reads scene folders written by ``segment-instances``; ``proposals=true`` strips
    the labels of ``truth`` (the scenes of ``objects=``, scene folders: proposals need points) and
    proposes objects from their points (``proposal_checkpoint=`` labels them, loaded once). The class
    scores are then sharpened by ``label_temperature``.
    """
    if cfg.proposals is None or cfg.proposals is False:
        return None
    from scene3d.grounding.data import sharpen_labels

    if cfg.proposals is True:
        from tqdm import tqdm

        from scene3d.instances import Labeler, propose, strip_labels

        empty = sorted(k for k, s in truth.items() if s.num_points < 2)
        if empty:
            raise ConfigError(f"proposals=true: scenes {empty[:5]} of {cfg.objects} have no points to propose objects from")
        labeler = None if cfg.proposal_checkpoint is None else Labeler.load(cfg.proposal_checkpoint, device=str(cfg.device))
        proposals = {k: propose(strip_labels(s), checkpoint=labeler)
                     for k, s in tqdm(truth.items(), desc="proposals", unit="scene", total=len(truth))}
    else:
        proposals = _scene_source(Path(cfg.proposals), set(truth), "proposals")
    if not proposals:
        raise ConfigError(f"proposals={cfg.proposals}: no scene of the sentences' scenes in it")
    return {k: sharpen_labels(v, _label_temperature(cfg)) for k, v in proposals.items()}


def cmd_eval_grounding(cfg: DictConfig) -> int:
    import json

    from scene3d.grounding import Grounder, GroundingDataset, evaluate
    from scene3d.grounding.real import read_language, read_scene_list
    from scene3d.io.atomic import atomic_write_text

    path = Path(need(cfg, "utterances"))
    utts = read_language(path)
    if cfg.scenes:
        keep = read_scene_list(cfg.scenes)
        utts = [u for u in utts if u.scene_id in keep]
    utts = utts[: cfg.limit] if cfg.limit else utts
    if not utts:
        raise ConfigError(f"{path}: no referral left to evaluate (scenes={cfg.scenes}, limit={cfg.limit})")
    _check_proposal_options(cfg)
    scenes = _scene_source(Path(need(cfg, "objects")), {u.scene_id for u in utts}, "objects")
    proposals = _proposal_scenes(cfg, scenes)   # before the model loads: errors answer at once
    data = GroundingDataset.build(scenes, utts)
    if not data.examples:
        raise ConfigError(f"{path}: none of its {len(utts)} referrals has its target in the object lists")
    grounder = Grounder.from_checkpoint(cfg.checkpoint, device=str(cfg.device))   # None: the packaged model
    report = evaluate(grounder.model, grounder.cache, data, rotations=grounder.rotations)
    protocol = "scanrefer" if path.suffix == ".json" else "referit3d"
    print(f"eval-grounding: {path.name}, {protocol} protocol: {len(data.examples)} referrals "
          f"({len(data.skipped)} skipped: target not in the object list)")
    print(report.table(protocol))
    detection = None
    if proposals is not None:
        from scene3d.grounding.detection import evaluate_detection

        detection = evaluate_detection(grounder.model, grounder.cache, data, proposals, rotations=grounder.rotations,
                                       true_objects=report.scanrefer)
        source = "proposals made from the points" if cfg.proposals is True else str(cfg.proposals)
        print(f"detection protocol (ScanRefer): grounded among the predicted objects of {source} "
              f"({detection.proposals_per_scene:.1f} a scene; {detection.without_proposals} sentences without any), "
              f"scored by IoU with the true target's box:")
        print(detection.table())
    if cfg.out:
        record = {"utterances": str(path), "checkpoint": str(cfg.checkpoint or "packaged"), "protocol": protocol,
                  "evaluated": len(data.examples), "skipped": len(data.skipped), **report.to_json()}
        if detection is not None:
            record["detection"] = {"proposals": str(cfg.proposals), **detection.to_json()}
        atomic_write_text(Path(cfg.out), json.dumps(record, indent=1))
        print(f"metrics: {cfg.out}")
    return 0


def format_grounding(result) -> str:
    """A GroundingResult as a small table."""
    rows = [f"query: {result.query!r} in {result.scene_id} ({result.seconds * 1000:.0f} ms)"]
    if result.low_confidence:
        asked = f"'{result.asked_class}'" if result.asked_class else "the class the query asks for"
        rows.append(f"  low confidence: no object of the scene is {asked} "
                    f"(best class match {result.class_match:.2f})")
    for rank, r in enumerate(result.ranked, 1):
        c = np.round(r.box.center, 2).tolist()
        rows.append(f"  {rank}. object {r.object_id:<4} {r.label:<16} score {r.score:.3f}  centre {c}")
    if not result.ranked:
        rows.append("  (the scene has no objects)")
    return "\n".join(rows)


def _ground_queries(cfg: DictConfig):
    """The sentences of ``scene3d ground``: every ``query=`` (in order), then the lines of
    ``queries=<file>`` or, with ``queries=-``, of standard input as they arrive (an
    interactive session: one answer per line typed; Ctrl-D ends). Blank lines are skipped."""
    queries = cfg.query if cfg.query is not None else []
    yield from (str(q) for q in ([queries] if isinstance(queries, str) else queries))
    if cfg.queries == "-":
        lines = sys.stdin
    elif cfg.queries:
        lines = Path(cfg.queries).read_text(encoding="utf-8").splitlines()
    else:
        return
    for line in lines:
        if line.strip():
            yield line.strip()


def cmd_ground(cfg: DictConfig) -> int:
    if cfg.query is None and not cfg.queries:
        raise ConfigError('missing required argument query="..." (repeat it for several) or queries=<file> '
                          "(one sentence a line; - reads standard input)")
    if cfg.queries and cfg.queries != "-" and not Path(cfg.queries).is_file():
        raise ConfigError(f"queries={cfg.queries}: file not found")
    if not Path(cfg.scene).is_dir():   # before importing the readers and the model: a typo answers at once
        raise ConfigError(f"scene={cfg.scene}: scene folder not found")
    import json

    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_write_text

    temperature = _label_temperature(cfg)
    scene = load_scene(cfg.scene, frames=False, mesh=False)
    t0 = time.perf_counter()
    from scene3d.grounding import Grounder
    from scene3d.grounding.data import sharpen_labels

    scene = sharpen_labels(scene, temperature)

    grounder = Grounder.from_checkpoint(cfg.checkpoint, device=str(cfg.device), int8=cfg.int8)   # None: packaged
    load_s = time.perf_counter() - t0
    print(f"ground: model {cfg.checkpoint or 'packaged'} loaded in {load_s:.1f} s", file=sys.stderr)
    results = []
    for query in _ground_queries(cfg):
        result = grounder.ground(scene, query, top_k=cfg.top_k)
        results.append(result)
        print(format_grounding(result), flush=True)
    if not results:
        raise ConfigError(f"queries={cfg.queries}: no sentence in it (blank lines are skipped)")
    if len(results) > 1:
        ms = np.array([r.seconds for r in results]) * 1000
        print(f"ground: {len(results)} queries, {np.median(ms):.0f} ms median each (first {ms[0]:.0f} ms), "
              f"after {load_s:.1f} s of model loading", file=sys.stderr)
    if cfg.out:
        record = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        atomic_write_text(Path(cfg.out), json.dumps(record, indent=1))
        print(f"result: {cfg.out}")
    return 0


def cmd_export_grounding(cfg: DictConfig) -> int:
    from scene3d.grounding.grounder import export_model

    checkpoint = need(cfg, "checkpoint")
    runs = [str(c) for c in checkpoint] if OmegaConf.is_list(checkpoint) else str(checkpoint)
    out = export_model(runs, need(cfg, "out"), rotations=cfg.get("rotations"))
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"export-grounding: {out} ({size:.1f} MiB); use it with checkpoint={out}")
    return 0
