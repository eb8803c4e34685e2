"""The ``scene3d`` command: ``scene3d <command> key=value ...``.

Each command has a Hydra config ``configs/<command with _>.yaml``; the
``key=value`` arguments are Hydra overrides of it. Run ``scene3d --help``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from scene3d.errors import ConfigError, Scene3DError

REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The folder of the commands' YAML configs: ``$SCENE3D_CONFIG_DIR``, else ``configs/`` of
    the source checkout (also an editable install), else ``<prefix>/share/scene3d/configs``
    where a wheel installs them."""
    import sysconfig

    if "SCENE3D_CONFIG_DIR" in os.environ:
        candidates = [Path(os.environ["SCENE3D_CONFIG_DIR"])]
    else:
        candidates = [REPO_ROOT / "configs", Path(sysconfig.get_path("data")) / "share" / "scene3d" / "configs"]
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigError(f"config folder not found (looked in {', '.join(map(str, candidates))}): reinstall scene3d "
                      "(pip install scene3d, or pip install -e . in its repository) or set SCENE3D_CONFIG_DIR")


#: Config maps whose keys are open: these by name, and any node with a ``_target_`` (a factory).
OPEN_MAPS = {"source_weights"}
#: Options that take values of several kinds (a share or a scene-list file).
ANY_KIND = {"real.held_out"}
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _default_of(defaults: DictConfig, key: str) -> tuple[bool, object]:
    """(whether the dotted option exists, its default: None when required (???), null or
    inside an open map)."""
    node: object = defaults
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node.keys():   # `in` is False for ??? values
            return False, None
        if OmegaConf.is_missing(node, part):
            return i == len(parts) - 1, None
        node = node[part]
        if ".".join(parts[:i + 1]) in OPEN_MAPS or (isinstance(node, DictConfig) and "_target_" in node):
            return True, None
    return True, node


def _flat_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Dotted keys of a config's nodes and leaves."""
    out = []
    for k in node:
        out.append(prefix + str(k))
        if isinstance(node._get_node(k), DictConfig):
            out += _flat_keys(node[k], f"{prefix}{k}.")
    return out


def _check_options(command: str, defaults: DictConfig, overrides: list[str]) -> None:
    """Refuse an option the command does not have, naming the nearest known ones; ``+key=``
    does not get around it (keys inside open maps, ``OPEN_MAPS`` or factories, may be new).

    Raises:
        ConfigError: "unknown option num_scene; did you mean num_scenes?".
    """
    import difflib

    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        if not _default_of(defaults, key)[0]:
            near = difflib.get_close_matches(key, _flat_keys(defaults), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise ConfigError(f"unknown option {key}{hint} (scene3d {command} --help lists them)")


def _check_kinds(command: str, defaults: DictConfig, cfg: DictConfig, overrides: list[str]) -> None:
    """Refuse a value of another kind than its option's default (``num_scenes=abc``; a number
    for a number, true/false for a flag); options whose default is null or a list are free.

    Raises:
        ConfigError: naming the option, the value and the kind expected.
    """
    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        default = _default_of(defaults, key)[1]
        expected = type(default)
        if expected not in _KINDS or key in ANY_KIND:
            continue
        value = OmegaConf.select(cfg, key)
        ok = value is None or (isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        ok = ok or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{key}={value!r}: expected {_KINDS[expected]} (default {default!r}; "
                              f"scene3d {command} --help)")


def _hydra_form(override: str, known: set[str]) -> str:
    """A checked override in Hydra's syntax: an existing key without "+", a new key (inside an
    open map) with it; deletions ("~key") as given."""
    if override.startswith("~"):
        return override
    body = override.lstrip("+")
    return body if body.partition("=")[0] in known else "+" + body


def compose(command: str, overrides: list[str]) -> DictConfig:
    """Compose the command's config with ``key=value`` overrides (Hydra syntax), after checking
    that every option exists (:func:`_check_options`) and then that its value has the kind of
    its default (:func:`_check_kinds`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    name = command.replace("-", "_")
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            defaults = hydra_compose(config_name=name)
            _check_options(command, defaults, overrides)
            known = set(_flat_keys(defaults))
            cfg = hydra_compose(config_name=name, overrides=[_hydra_form(o, known) for o in overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"{command}: {exc}") from None
    _check_kinds(command, defaults, cfg, overrides)
    return cfg


def _need(cfg: DictConfig, key: str):
    try:
        return cfg[key]
    except MissingMandatoryValue:
        raise ConfigError(f"missing required argument {key}=...") from None


# ------------------------------------------------------------------- commands
def cmd_import_scannet(cfg: DictConfig) -> int:
    from scene3d.io import import_scannet, save_scene

    t0 = time.perf_counter()
    scene, report = import_scannet(
        _need(cfg, "scan"), label_map=cfg.label_map, align=cfg.align, axis_alignment=cfg.axis_alignment,
        box_mode=cfg.box_mode, with_mesh=cfg.with_mesh, with_frames=cfg.with_frames,
        image_scale=cfg.image_scale, max_frames=cfg.max_frames,
    )
    folder = save_scene(scene, _need(cfg, "out"))
    print(f"imported {scene.scene_id} -> {folder} in {time.perf_counter() - t0:.1f} s")
    print(f"  labelled points: {report.num_labelled_points:,}   aggregation: {report.aggregation}")
    print(f"  label map: {report.label_map}   axis alignment: {report.axis_alignment or 'none found'}")
    if report.unmapped_labels:
        print(f"  labels missing from the label map (kept, no NYU40 class): {report.unmapped_labels}")
    if report.conflicting_points:
        print(f"  points claimed by two instances (last kept): {report.conflicting_points}")
    if report.skipped_frames:
        print(f"  frames skipped for invalid poses: {report.skipped_frames}")
    print(summarize(scene))
    return 0


def cmd_import_ply(cfg: DictConfig) -> int:
    from scene3d.io import import_plain, save_scene

    scene = import_plain(_need(cfg, "path"), scene_id=cfg.scene_id, sample_points=cfg.sample_points,
                         seed=cfg.seed, with_mesh=cfg.with_mesh)
    folder = save_scene(scene, _need(cfg, "out"))
    print(f"imported {cfg.path} -> {folder}")
    print(summarize(scene))
    return 0


def cmd_info(cfg: DictConfig) -> int:
    from scene3d.io import load_scene

    print(summarize(load_scene(_need(cfg, "scene")), max_classes=cfg.max_classes))
    return 0


def _find_data_root(cfg: DictConfig) -> Path | None:
    candidates = [cfg.data_root, os.environ.get("SCENE3D_DATA"),
                  REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def _synth_config(cfg: DictConfig):
    from scene3d.synth import SynthConfig

    return SynthConfig(num_points=cfg.num_points, min_object_points=cfg.min_object_points, noise=cfg.noise,
                       holes=cfg.holes, num_frames=cfg.num_frames, width=cfg.width, height=cfg.height,
                       hfov_deg=cfg.hfov_deg)


def cmd_generate(cfg: DictConfig) -> int:
    from scene3d.synth import format_table, generate_dataset

    t0 = time.perf_counter()
    summary = generate_dataset(_need(cfg, "out"), cfg.num_scenes, seed=cfg.seed, workers=cfg.workers,
                               config=_synth_config(cfg), split_fractions=tuple(cfg.split), name=cfg.name)
    dt = time.perf_counter() - t0
    print(f"generated {len(summary.scene_ids)} scenes in {cfg.out} in {dt:.1f} s "
          f"({len(summary.scene_ids) / dt:.2f} scenes/s); chart: {Path(cfg.out) / 'stats.png'}")
    print(format_table(summary))
    return 0


class _Stages:
    """Wall time per named stage of a command, printed as one line at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.t0 = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to stage ``name``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        return f"{parts}; total {time.perf_counter() - self.t0:.0f} s"


DEMO_SECONDS = {"per_scene": 1.4, "per_step": 0.1, "fixed": 8.0, "busy_factor": 2.5}
"""The demo's time model on the dev box with one core free (benchmarks/RESULTS.md, "The first
hour"): generation, graphs and language per scene; grounding training per step (text encoding
included); the rest (imports, the real scan and its grounding); and the slow-down seen with
every core busy."""


def _demo_estimate(cfg: DictConfig) -> tuple[float, bool]:
    """(seconds the demo should take here, whether every core is busy now: load average >= cores)."""
    seconds = (DEMO_SECONDS["fixed"] + DEMO_SECONDS["per_scene"] * cfg.num_scenes
               + DEMO_SECONDS["per_step"] * cfg.train_steps)
    busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    return seconds * (DEMO_SECONDS["busy_factor"] if busy else 1.0), busy


def cmd_demo(cfg: DictConfig) -> int:
    from scene3d.runtime import configure_threads

    out = Path(cfg.out)
    (estimate, busy), threads = _demo_estimate(cfg), configure_threads()
    print(f"demo: {cfg.num_scenes} synthetic scenes, {cfg.train_steps} training steps, the real sample scan: "
          f"about {estimate / 60:.1f} min{' (the CPU is busy)' if busy else ''}; {threads} torch "
          f"thread{'s' if threads > 1 else ''}; stage times at the end", flush=True)
    stages = _Stages()
    with stages("generate"):
        from scene3d.io import import_scannet, load_scene, save_scene
        from scene3d.synth import format_table, generate_dataset

        print(f"demo: generating {cfg.num_scenes} synthetic scenes (the embedded default data)")
        summary = generate_dataset(out / "synthetic", cfg.num_scenes, seed=cfg.seed, workers=cfg.workers)
    print(format_table(summary))
    first = load_scene(out / "synthetic" / summary.scene_ids[0])
    print(summarize(first))
    with stages("graphs"):
        from scene3d.graph.batch import graph_dataset

        edges = graph_dataset(out / "synthetic", workers=cfg.workers, progress=False)
    print(f"demo: scene graphs written ({np.mean(list(edges.values())):.0f} relations per scene)")
    with stages("language"):
        from scene3d.language import format_stats
        from scene3d.language.batch import language_dataset

        stats = language_dataset(out / "synthetic", seed=cfg.seed, workers=cfg.workers, progress=False)
    print(format_stats(stats))
    _demo_grounding(cfg, out, stages)
    data_root = _find_data_root(cfg)
    scan = data_root / cfg.sample_scan if data_root else None
    code = 0
    if scan is not None and scan.is_dir():
        print(f"demo: importing the real sample scan {scan}")
        with stages("real scan"):
            scene, _ = import_scannet(scan)
            back = load_scene(save_scene(scene, out / "scannet"))
        print(f"demo: round trip of the canonical folder {'exact' if back == scene else 'NOT EXACT'}")
        print(summarize(back))
        if back != scene:
            code = 1
        else:
            with stages("real grounding"):
                _demo_real_grounding(back, scan, out)
    else:
        print("demo: no real sample scan found (set data_root=... or SCENE3D_DATA); synthetic data only")
    print(f"demo: stage times: {stages.line()} (estimate {estimate:.0f} s)")
    return code


def _synthetic_grounding(data: Path, val_split: str):
    """(scenes by id, utterances, held-out scene ids) of a generated dataset with language."""
    from scene3d.io import list_scene_folders, load_scene, read_utterances_jsonl

    scenes = {s.scene_id: s for s in (load_scene(f, frames=False, mesh=False) for f in list_scene_folders(data))}
    return scenes, read_utterances_jsonl(data / "language.jsonl"), _split_scenes(data, val_split)


def _demo_grounding(cfg: DictConfig, out: Path, stages: _Stages) -> None:
    """Train a small grounding model on the demo's scenes (validation scenes held out) and
    ground five referrals of a held-out scene with it."""
    from scene3d.grounding import Grounder, GroundingDataset
    from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
    from scene3d.models.grounding import GroundingConfig

    data = out / "synthetic"
    scenes, utts, held = _synthetic_grounding(data, "val")
    train = GroundingDataset.build({k: v for k, v in scenes.items() if k not in held}, utts)
    print(f"demo: training a small grounding model on {len(train.examples)} referrals "
          f"({cfg.train_steps} steps; the run is {out / 'grounding'})")
    tcfg = GroundingTrainConfig(steps=cfg.train_steps, batch_size=32, lr=5e-4, checkpoint_every=100,
                                eval_every=cfg.train_steps, seed=cfg.seed,
                                model=GroundingConfig(dim=cfg.dim, layers=cfg.layers))
    with stages("train"):
        train_grounding(train, out / "grounding", tcfg)
    grounder = Grounder.from_checkpoint(out / "grounding")
    scene = scenes[sorted(held)[0]] if held else next(iter(scenes.values()))
    examples = [u for u in utts if u.scene_id == scene.scene_id and u.kind == "referral"][:5]
    print(f"demo: grounding {len(examples)} referrals of {scene.scene_id} (not seen in training)")
    for u in examples:
        result = grounder.ground(scene, u.text, viewpoint=u.viewpoint, top_k=3)
        best = result.best
        verdict = "right" if best.object_id == u.target_id else f"wrong, the answer is object {u.target_id}"
        print(f"  {u.text!r}\n    -> object {best.object_id} ({best.label}), score {best.score:.2f} ({verdict}); then "
              + ", ".join(f"{r.object_id} ({r.label}) {r.score:.2f}" for r in result.ranked[1:]))
    print(f"demo: ask your own: scene3d ground scene={data / scene.scene_id} query=\"...\" "
          f"checkpoint={out / 'grounding'}")


def _demo_real_grounding(scene, scan: Path, out: Path) -> None:
    """Ground the sample scan's real human sentences (those whose target is the same object in
    the scan's v1 annotation and the v2 boxes they were written for) with the packaged model."""
    import json

    from scene3d.grounding import Grounder
    from scene3d.grounding.grounder import PRETRAINED

    records = scan / f"grounding_utterances_{scan.name}.json"
    if not (PRETRAINED / "config.json").is_file() or not records.is_file():
        print("demo: no packaged grounding model or no real sentences for the scan: skipping real grounding")
        return
    ids = {o.object_id for o in scene.objects}
    rows = [r for r in json.loads(records.read_text())["utterances"]
            if r.get("human_written") and r.get("target_id") in ids and (r.get("v1_v2_aabb_iou") or 0) >= 0.9]
    rows = list({r["utterance"].strip().lower(): r for r in rows}.values())
    if not rows:
        return
    grounder = Grounder.from_checkpoint(None)
    print(f"demo: grounding {len(rows)} real human sentences (Nr3D, ScanRefer) in {scene.scene_id} with the "
          f"packaged model (it never trained on this scan)")
    right = 0
    for k, r in enumerate(rows):
        best = grounder.ground(scene, r["utterance"], top_k=1).best
        ok = best.object_id == r["target_id"]
        right += ok
        if k < 6:
            verdict = "right" if ok else f"wrong, the answer is object {r['target_id']}"
            print(f"  {r['utterance'].strip()!r}\n    -> object {best.object_id} ({best.label}), {verdict}")
    print(f"demo: {right} of {len(rows)} right. Ask your own: scene3d ground scene={out / 'scannet' / scene.scene_id} "
          f"query=\"the bed\"")


def cmd_graph(cfg: DictConfig) -> int:
    from scene3d.graph.batch import graph_dataset

    t0 = time.perf_counter()
    edges = graph_dataset(_need(cfg, "data"), workers=cfg.workers, viewpoint=cfg.viewpoint)
    dt = time.perf_counter() - t0
    print(f"graph: {len(edges)} scenes in {dt:.1f} s; edges per scene: mean {np.mean(list(edges.values())):.0f}, "
          f"min {min(edges.values())}, max {max(edges.values())}; written as <scene>/graph.json")
    return 0


def cmd_language(cfg: DictConfig) -> int:
    from scene3d.language import LanguageConfig, format_stats
    from scene3d.language.batch import language_dataset

    lcfg = LanguageConfig(per_target=cfg.per_target, per_scene=cfg.per_scene, chained=cfg.chained,
                          paraphrase=cfg.paraphrase, object_captions=cfg.object_captions,
                          scene_caption=cfg.scene_caption)
    t0 = time.perf_counter()
    stats = language_dataset(_need(cfg, "data"), seed=cfg.seed, workers=cfg.workers, config=lcfg,
                             viewpoint=cfg.viewpoint)
    print(f"language: {Path(cfg.data) / 'language.jsonl'} in {time.perf_counter() - t0:.1f} s")
    print(format_stats(stats))
    return 0


def _split_scenes(data: Path, split: str) -> set[str]:
    path = data / "splits" / f"{split}.txt"
    if not path.is_file():
        raise ConfigError(f"{path} not found: generate the data with scene3d generate (it writes splits/)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _is_main_rank() -> bool:
    """Whether this process reports and writes: rank 0 under torchrun, or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


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
        scenes, utts, held = _synthetic_grounding(Path(cfg.data), cfg.val_split)
    if cfg.real.language:
        real_scenes, real_utts = load_real_grounding(cfg.real.language, _need(cfg.real, "objects"))
        if isinstance(cfg.real.held_out, str):      # a scene list (e.g. an earlier run's real_held_out.txt)
            real_held = read_scene_list(cfg.real.held_out) & set(real_scenes)
        else:
            _, real_held = split_scene_ids(real_scenes, cfg.real.held_out, cfg.real.seed)
        out = Path(_need(cfg, "out"))
        if _is_main_rank():
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

    train, val = _grounding_data(cfg)
    sources = Counter(ex.utterance.source for ex in train.examples)
    if _is_main_rank():
        print(f"train-grounding: {len(train.examples)} referrals in {len(train.scenes)} scenes "
              f"({', '.join(f'{k} {v}' for k, v in sorted(sources.items()))}); "
              f"validation {len(val.examples)} in {len(val.scenes)}")
    tcfg = GroundingTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                                checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every,
                                source_weights=dict(cfg.source_weights), text_lr=cfg.text_lr,
                                buckets=cfg.buckets, init=cfg.init, warmup=cfg.warmup, device=str(cfg.device),
                                dist_timeout_s=cfg.dist_timeout_s, model=GroundingConfig(dim=cfg.dim, layers=cfg.layers, heads=cfg.heads,
                                                      pair_dim=cfg.pair_dim, points=cfg.points,
                                                      text_finetune=cfg.text_finetune))
    cache = TextCache(minilm_text_encoder(), folder=cfg.text_cache or Path(cfg.out) / "text_cache")
    model = train_grounding(train, _need(cfg, "out"), tcfg, val=val, cache=cache)
    if not _is_main_rank():  # torchrun: rank 0 reports
        return 0
    for source in sorted({ex.utterance.source for ex in val.examples}):
        part = GroundingDataset(val.scenes, [ex for ex in val.examples if ex.utterance.source == source])
        print(f"held out, {source} ({len(part.examples)} referrals):")
        print(evaluate(model, cache, part).table())
    return 0


def cmd_eval_grounding(cfg: DictConfig) -> int:
    import json

    from scene3d.grounding import Grounder, GroundingDataset, evaluate
    from scene3d.grounding.real import read_language, read_scene_list
    from scene3d.io import load_gt_object_scenes
    from scene3d.io.atomic import atomic_write_text

    path = Path(_need(cfg, "utterances"))
    utts = read_language(path)
    if cfg.scenes:
        keep = read_scene_list(cfg.scenes)
        utts = [u for u in utts if u.scene_id in keep]
    utts = utts[: cfg.limit] if cfg.limit else utts
    if not utts:
        raise ConfigError(f"{path}: no referral left to evaluate (scenes={cfg.scenes}, limit={cfg.limit})")
    scenes = load_gt_object_scenes(_need(cfg, "objects"), scene_ids={u.scene_id for u in utts})
    data = GroundingDataset.build(scenes, utts)
    if not data.examples:
        raise ConfigError(f"{path}: none of its {len(utts)} referrals has its target in the object lists")
    grounder = Grounder.from_checkpoint(cfg.checkpoint, device=str(cfg.device))   # None: the packaged model
    report = evaluate(grounder.model, grounder.cache, data, rotations=grounder.rotations)
    protocol = "scanrefer" if path.suffix == ".json" else "referit3d"
    print(f"eval-grounding: {path.name}, {protocol} protocol: {len(data.examples)} referrals "
          f"({len(data.skipped)} skipped: target not in the object list)")
    print(report.table(protocol))
    if cfg.out:
        record = {"utterances": str(path), "checkpoint": str(cfg.checkpoint or "packaged"), "protocol": protocol,
                  "evaluated": len(data.examples), "skipped": len(data.skipped), **report.to_json()}
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

    scene = load_scene(cfg.scene, frames=False, mesh=False)
    t0 = time.perf_counter()
    from scene3d.grounding import Grounder

    grounder = Grounder.from_checkpoint(cfg.checkpoint, device=str(cfg.device))   # None: the packaged model
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

    checkpoint = _need(cfg, "checkpoint")
    runs = [str(c) for c in checkpoint] if OmegaConf.is_list(checkpoint) else str(checkpoint)
    out = export_model(runs, _need(cfg, "out"), rotations=cfg.get("rotations"))
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"export-grounding: {out} ({size:.1f} MiB); use it with checkpoint={out}")
    return 0


def cmd_view(cfg: DictConfig) -> int:
    scene_index = bool(cfg.index) and (Path(str(cfg.index)) / "index.sqlite").is_file()
    if not cfg.data and not (scene_index and cfg.scene):   # before the heavy imports
        raise ConfigError("missing required argument data=... (a folder of scenes), or index=<scene index> "
                          "scene=<key or scene id>")
    from scene3d.viewer import Viewer, load_search_callable

    search, data, scene_id = None, cfg.data, cfg.scene
    if scene_index:
        from scene3d.repository import SceneIndex

        index = SceneIndex(str(cfg.index))
        search = index.search_text
        if scene_id and not (data and (Path(str(data)) / str(scene_id)).is_dir()):  # a key or id of the index
            record = index.resolve(str(scene_id))
            if not record.path or not (Path(record.path) / "scene.json").is_file():
                raise ConfigError(f"{record.key} was indexed from {record.path or 'no folder'}, which holds no scene "
                                  f"now: re-index its folder (scene3d index data=<its dataset> index={cfg.index})")
            data, scene_id = Path(record.path).parent, Path(record.path).name
    elif cfg.index:
        search = load_search_callable(str(cfg.index))
    viewer = Viewer(data, checkpoint=cfg.checkpoint, search=search, host=cfg.host, port=cfg.port,
                    out=cfg.out, max_points=cfg.max_points, point_size=cfg.point_size, top_k=cfg.top_k,
                    scene_id=scene_id)
    print(f"view: {len(viewer.scene_ids)} scenes of {data} at {viewer.url} (Ctrl-C stops)")
    if viewer.model_error:
        print(f"view: {viewer.model_error}", file=sys.stderr)
    viewer.serve_forever()
    return 0


def _dataclass_from(cls, node, name: str):

    try:
        return cls(**OmegaConf.to_container(node, resolve=True))
    except TypeError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def cmd_pretrain(cfg: DictConfig) -> int:
    from hydra.utils import instantiate

    from scene3d.distill import DistillConfig, StudentConfig, pretrain
    from scene3d.io import list_scene_folders, load_scene
    from scene3d.train import LoopConfig

    data = Path(_need(cfg, "data"))
    folders = list_scene_folders(data)
    if cfg.split is not None:
        keep = _split_scenes(data, cfg.split)
        folders = [f for f in folders if f.name in keep]
    if not folders:
        raise ConfigError(f"no scene folders to train on in {data} (split={cfg.split})")
    if _is_main_rank():
        which = (f"the {len(folders)} scenes of split {cfg.split!r} ({data / 'splits' / f'{cfg.split}.txt'}; "
                 f"split=null takes all {len(list_scene_folders(data))})") if cfg.split is not None \
            else f"all {len(folders)} scenes of {data}"
        print(f"pretrain: training on {which}; loading them, voxelising them and building the teacher "
              "(the first step also renders its views: it takes longer than the others)", flush=True)
    scenes = [load_scene(f, mesh=False) for f in folders]
    teacher = instantiate(cfg.teacher)
    notes = {"teacher": OmegaConf.to_container(cfg.teacher, resolve=True), "data": str(data), "split": cfg.split}
    t0 = time.perf_counter()
    pretrain(scenes, teacher, _need(cfg, "out"), _dataclass_from(StudentConfig, cfg.student, "student"),
             _dataclass_from(DistillConfig, cfg.distill, "distill"), _dataclass_from(LoopConfig, cfg.loop, "loop"),
             progress=cfg.progress, notes=notes)
    import torch.distributed as dist

    if dist.is_initialized():  # launched by torchrun
        dist.destroy_process_group()
    if _is_main_rank():
        print(f"pretrain: {len(scenes)} scenes, {cfg.loop.steps} steps in {time.perf_counter() - t0:.0f} s -> "
              f"{cfg.out} (checkpoints/, metrics.csv, metrics.png)")
    return 0


def cmd_features(cfg: DictConfig) -> int:
    import json

    import torch
    from safetensors.torch import save_file

    from scene3d.distill import (
        detect_keypoints,
        load_student,
        point_features,
        scene_descriptor,
    )
    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_path, atomic_write_text

    if cfg.dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be float16 or float32, got {cfg.dtype}")
    scene = load_scene(_need(cfg, "scene"), frames=False, mesh=False)
    model, state = load_student(_need(cfg, "checkpoint"))
    t0 = time.perf_counter()
    feats = point_features(model, scene)  # (N, D)
    points = torch.from_numpy(scene.points).float()
    kp = detect_keypoints(points, feats, radius=cfg.nms_radius, max_keypoints=cfg.keypoints)
    desc = scene_descriptor(feats)
    seconds = time.perf_counter() - t0
    out = Path(_need(cfg, "out"))
    tensors = {"point_features": feats.to(getattr(torch, cfg.dtype)).contiguous(), "keypoint_indices": kp.indices,
               "keypoint_positions": kp.positions, "keypoint_scores": kp.scores,
               "keypoint_descriptors": kp.descriptors.contiguous(), "scene_descriptor": desc}
    with atomic_path(out / "features.safetensors") as tmp:
        save_file(tensors, str(tmp))
    summary = {"scene_id": scene.scene_id, "num_points": scene.num_points, "dim": int(feats.shape[1]),
               "keypoints": int(kp.indices.numel()), "checkpoint": str(cfg.checkpoint), "step": state.step,
               "seconds": seconds}
    atomic_write_text(out / "features.json", json.dumps(summary, indent=1))
    print(f"features: {scene.scene_id}: {scene.num_points:,} points x {feats.shape[1]} in {seconds:.1f} s, "
          f"{kp.indices.numel()} keypoints, descriptor {desc.numel()}-d -> {out / 'features.safetensors'}")
    return 0


def cmd_eval_segmentation(cfg: DictConfig) -> int:
    import json

    from hydra.utils import instantiate

    from scene3d.distill import ENSEMBLE_RULES, evaluate_segmentation, load_student
    from scene3d.io import list_scene_folders, load_scene
    from scene3d.io.atomic import atomic_write_text

    data = Path(_need(cfg, "data"))
    if cfg.ensemble not in ENSEMBLE_RULES:
        raise ConfigError(f"eval-segmentation: ensemble={cfg.ensemble} is not one of {', '.join(ENSEMBLE_RULES)}")
    model, state = load_student(_need(cfg, "checkpoint"))
    teacher_cfg = cfg.teacher if cfg.teacher is not None else state.extra.get("notes", {}).get("teacher")
    if teacher_cfg is None:
        raise ConfigError(f"{cfg.checkpoint}: the run records no teacher; pass teacher={{_target_: ...}}")
    folders = list_scene_folders(data)
    if cfg.split is not None:
        keep = _split_scenes(data, cfg.split)
        folders = [f for f in folders if f.name in keep]
    scenes = [load_scene(f, mesh=False) for f in folders[:cfg.limit]]
    if not scenes:
        raise ConfigError(f"no scene folders to evaluate in {data} (split={cfg.split})")
    classes = list(cfg.classes) if cfg.classes is not None else sorted({o.label for s in scenes for o in s.objects})
    t0 = time.perf_counter()
    report = evaluate_segmentation(scenes, model, instantiate(teacher_cfg), classes, cfg.tolerance, cfg.ensemble,
                                   cfg.temperature)
    print(f"eval-segmentation: {len(scenes)} scenes, {report.n_points:,} labelled points, {len(classes)} classes, "
          f"step {state.step}, {time.perf_counter() - t0:.0f} s")
    for m in report.miou:
        print(f"  {m:9s} mIoU {100 * report.miou[m]:5.1f} %  accuracy {100 * report.accuracy[m]:5.1f} %")
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps({**report.to_json(), "checkpoint": str(cfg.checkpoint),
                                                     "step": state.step, "ensemble_rule": cfg.ensemble}, indent=1))
    return 0


def cmd_index(cfg: DictConfig) -> int:
    from tqdm import tqdm

    from scene3d.io import list_scene_folders, load_scene, read_utterances_jsonl
    from scene3d.repository import AddOutcome, SceneIndex, dataset_collection

    data = Path(_need(cfg, "data"))
    collection = str(cfg.collection) if cfg.collection else dataset_collection(data)
    folders = list_scene_folders(data)
    captions = {}
    if cfg.captions and (data / "language.jsonl").is_file():
        captions = {u.scene_id: u.text for u in read_utterances_jsonl(data / "language.jsonl")
                    if u.kind == "scene_caption"}
    index = SceneIndex(_need(cfg, "index"))
    images = cfg.images if cfg.images is not None else index.get_info("image_teacher") is not None
    teacher = _image_teacher(cfg, index, create=True) if images else None
    t0 = time.perf_counter()
    outcomes = dict.fromkeys(AddOutcome, 0)
    text_only: list[str] = []
    for folder in tqdm(folders, desc="index", unit="scene"):
        scene = load_scene(folder, frames=images, mesh=False)
        scene_teacher = teacher if teacher is not None and any(f.depth is not None for f in scene.frames) else None
        if teacher is not None and scene_teacher is None:
            text_only.append(scene.scene_id)
        outcomes[index.add(scene, captions.get(scene.scene_id), teacher=scene_teacher, collection=collection,
                           path=folder, replace=bool(cfg.replace))] += 1
    index.faiss_index()
    if teacher is not None:
        index.faiss_index("views")
    print(f"index: {', '.join(f'{n} {o.value}' for o, n in outcomes.items())}; {len(index)} scenes in {cfg.index} "
          f"(this folder as collection {collection!r}: keys {collection}/<scene id>; "
          f"{time.perf_counter() - t0:.1f} s)")
    if text_only:
        print(f"index: {len(text_only)} scenes have no frames with depth and cannot answer image queries "
              f"(e.g. {', '.join(text_only[:3])})")
    return 0


def _image_teacher(cfg: DictConfig, index, create: bool):
    """The teacher of the index's image part: the one it was built with (recorded in the index),
    or, when ``create``, ``cfg.teacher`` (default: the label teacher) recorded for a new one; a
    different ``cfg.teacher`` is an error (its view descriptors would not compare)."""
    import json

    from hydra.utils import instantiate

    stored = index.get_info("image_teacher")
    given = OmegaConf.to_container(cfg.teacher, resolve=True) if cfg.get("teacher") else None
    if stored is None:
        if not create:
            raise ConfigError(f"{index.path} has no image part: build it with scene3d index ... images=true")
        spec = given or {"_target_": "scene3d.teachers.label_embedding_teacher"}
        index.set_info("image_teacher", json.dumps(spec, sort_keys=True))
        return instantiate(spec)
    if given is not None and json.loads(stored) != given:
        raise ConfigError(f"{index.path} was indexed for images with teacher {stored}, not {json.dumps(given)}: "
                          "use one teacher per index (or a new index)")
    return instantiate(json.loads(stored))


def _open_index(cfg: DictConfig):
    from scene3d.repository import SceneIndex

    path = Path(_need(cfg, "index"))
    if not (path / "index.sqlite").is_file():
        raise ConfigError(f"{path} is not a scene index (no index.sqlite); build one with scene3d index")
    return SceneIndex(path)


def cmd_search(cfg: DictConfig) -> int:
    import dataclasses
    import json

    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_write_text

    index = _open_index(cfg)
    t0 = time.perf_counter()
    if cfg.image:  # an RGB image: view-descriptor shortlist + SIFT matching + PnP RANSAC
        frame = _query_frame(cfg)
        teacher = _image_teacher(cfg, index, create=False)
        t0 = time.perf_counter()
        hits = index.search_image(frame, teacher, top_k=cfg.top_k)
        print(f"search: scenes that {cfg.image} shows, over {len(index)} scenes "
              f"({(time.perf_counter() - t0) * 1000:.0f} ms)")
        if not hits:
            print("  no indexed scene matches the image (too few keypoints agree on a camera pose)")
        records = index.records([h.key for h in hits])
        for rank, h in enumerate(hits, 1):
            x, y, z = h.cam_to_world[:3, 3]
            print(_format_hit(rank, records[h.key], f"inliers {h.inliers}/{h.matches}, descriptor {h.score:.3f}, "
                                                    f"camera at ({x:.2f}, {y:.2f}, {z:.2f}) m"))
        record = [{**_record_json(records[h.key]), "score": h.score, "inliers": h.inliers, "matches": h.matches,
                   "cam_to_world": h.cam_to_world.tolist()} for h in hits]
    elif cfg.scene:  # same place: descriptor shortlist + object registration
        scene = load_scene(cfg.scene, frames=False, mesh=False)
        matches = index.search_scene(scene, top_k=cfg.top_k)
        print(f"search: scenes that are the same place as {scene.scene_id} over {len(index)} scenes "
              f"({(time.perf_counter() - t0) * 1000:.0f} ms)")
        records = index.records([m.key for m in matches])
        for rank, m in enumerate(matches, 1):
            print(_format_hit(rank, records[m.key], f"overlap {m.overlap:.2f}, descriptor {m.score:.3f}, "
                                                    f"{len(m.matches)} objects matched"))
        record = [{**_record_json(records[m.key]), "overlap": m.overlap, "score": m.score,
                   "transform": m.transform.tolist(), "matches": m.matches} for m in matches]
    else:
        hits = index.search_text(str(_need(cfg, "query")), top_k=cfg.top_k)
        print(f"search: {cfg.query!r} over {len(index)} scenes ({(time.perf_counter() - t0) * 1000:.0f} ms)")
        for rank, h in enumerate(hits, 1):
            matched = ", ".join(f"{label} #{oid}" for oid, label in zip(h.object_ids, h.labels))
            print(_format_hit(rank, h, f"score {h.score:.3f}" + (f", matched {matched}" if matched else "")))
        record = [dataclasses.asdict(h) for h in hits]
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps(record, indent=1))
        print(f"result: {cfg.out}")
    return 0


def _format_hit(rank: int, record, evidence: str) -> str:
    """Three lines of a search hit (a SceneRecord or SearchHit: key, room_type, caption, path): rank, key,
    room type and the evidence; its caption on one line; its folder."""
    caption = " ".join((record.caption or "").split())
    caption = caption if len(caption) <= 100 else caption[:99] + "…"
    return (f"  {rank}. {record.key}  [{record.room_type or 'room'}]  {evidence}\n"
            f"     {caption or '(no caption)'}\n"
            f"     {record.path or '(no path: indexed without a folder)'}")


def _record_json(record) -> dict:
    return {"key": record.key, "scene_id": record.scene_id, "source": record.source, "path": record.path,
            "room_type": record.room_type, "caption": record.caption}


def _query_frame(cfg: DictConfig):
    """The query image of ``scene3d search image=...`` as a Frame, with ``intrinsics=`` or ``hfov=``."""
    from scene3d.io import read_intrinsics
    from scene3d.io.images import read_image
    from scene3d.structures import Frame
    from scene3d.synth.raycast import intrinsics

    rgb = read_image(Path(cfg.image), mode="rgb")
    h, w = rgb.shape[:2]
    if cfg.intrinsics:
        K = read_intrinsics(Path(cfg.intrinsics))
    elif cfg.hfov:
        K = intrinsics(w, h, float(cfg.hfov))
    else:
        raise ConfigError("an image query needs its camera: intrinsics=<3x3 or 4x4 K file> or hfov=<degrees>")
    return Frame(Path(cfg.image).stem or "query", rgb, K.astype(np.float64), np.eye(4))


def cmd_duplicates(cfg: DictConfig) -> int:
    import json

    from scene3d.io.atomic import atomic_write_text

    index = _open_index(cfg)
    pairs = index.duplicates(min_overlap=cfg.min_overlap)
    print(f"duplicates: {len(pairs)} pairs of scenes that are the same place among {len(index)} scenes")
    for sid, m in pairs:
        print(f"  {sid:<20} = {m.key:<20} overlap {m.overlap:.2f} ({len(m.matches)} objects)")
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps(
            [{"a": sid, "b": m.key, "overlap": m.overlap, "transform_a_to_b": m.transform.tolist()}
             for sid, m in pairs], indent=1))
        print(f"report: {cfg.out}")
    return 0


COMMANDS: dict[str, tuple[Callable[[DictConfig], int], str]] = {
    "import-scannet": (cmd_import_scannet, "import one ScanNet scan folder: scan=<folder> out=<root>"),
    "import-ply": (cmd_import_ply, "import an unlabelled PLY/mesh: path=<file> out=<root>"),
    "info": (cmd_info, "print a scene's summary: scene=<scene folder>"),
    "generate": (cmd_generate, "generate synthetic scenes: num_scenes=N out=<root> seed=S workers=W"),
    "graph": (cmd_graph, "scene graphs of every scene: data=<root> (writes <scene>/graph.json)"),
    "language": (cmd_language, "referrals and captions of every scene: data=<root> (writes language.jsonl)"),
    "train-grounding": (cmd_train_grounding, "train the grounding model: data=<root> out=<run> steps=N "
                        "(torchrun for DDP)"),
    "eval-grounding": (cmd_eval_grounding, "real language with GT objects: checkpoint=<run> utterances=<csv/json> "
                       "objects=<gz> [out=metrics.json]"),
    "ground": (cmd_ground, "ground a sentence: scene=<scene folder> query=\"...\" [checkpoint=<run>; default: "
                           "the packaged model]"),
    "export-grounding": (cmd_export_grounding, "a run's weights as a self-contained model folder: checkpoint=<run> "
                                               "out=<folder>; checkpoint=[<run>,<run>] packs an ensemble; [rotations=N] turns averaged"),
    "view": (cmd_view, "web viewer of scenes and grounding: data=<root> [checkpoint=<run>] port=8080"),
    "pretrain": (cmd_pretrain, "2D-3D feature distillation: data=<root> out=<run> (torchrun for DDP)"),
    "features": (cmd_features, "point features, keypoints, scene descriptor: scene=<folder> checkpoint=<run> out=<dir>"),
    "eval-segmentation": (cmd_eval_segmentation, "zero-shot 3D segmentation of held-out scenes (fused teacher, "
                          "student, ensemble): data=<root> checkpoint=<pretrain run> [out=metrics.json]"),
    "index": (cmd_index, "add a folder of scenes to a scene index: data=<root> index=<folder> (resumable)"),
    "search": (cmd_search, "search a scene index: index=<folder> query=\"...\" (text), image=<png/jpg> "
                           "intrinsics=<K.txt> (scenes + camera pose) or scene=<scene folder> (same place)"),
    "duplicates": (cmd_duplicates, "pairs of indexed scenes that are the same place: index=<folder> [out=report.json]"),
    "demo": (cmd_demo, "run the main job on the embedded default data: out=<root>"),
}


def summarize(scene, max_classes: int = 40) -> str:
    """A human-readable summary of a Scene: points, bounds, objects by class, frames."""
    from scene3d.structures import Scene

    assert isinstance(scene, Scene)
    lines = [f"scene {scene.scene_id}  (source: {scene.meta.source}, room: {scene.meta.room_type or '-'})"]
    if scene.num_points:
        lo, hi = scene.points.min(axis=0), scene.points.max(axis=0)
        lines.append(f"  points: {scene.num_points:,}  labelled: {int((scene.instance_ids >= 0).sum()):,}  "
                     f"normals: {'yes' if scene.normals is not None else 'no'}")
        lines.append(f"  bounds (m): min {np.round(lo.astype(np.float64), 2).tolist()}  max {np.round(hi.astype(np.float64), 2).tolist()}")
    else:
        lines.append("  points: 0 (object-only scene)")
    by_label = scene.objects_by_label()
    lines.append(f"  objects: {len(scene.objects)} in {len(by_label)} classes")
    shown = list(by_label.items())[:max_classes]
    for i in range(0, len(shown), 6):
        lines.append("    " + ", ".join(f"{k} x{v}" for k, v in shown[i:i + 6]))
    if len(by_label) > max_classes:
        lines.append(f"    ... and {len(by_label) - max_classes} more classes")
    if scene.frames:
        sizes = sorted({f"{f.width}x{f.height}" for f in scene.frames})
        lines.append(f"  frames: {len(scene.frames)} ({', '.join(sizes)}; depth: "
                     f"{sum(f.depth is not None for f in scene.frames)})")
    else:
        lines.append("  frames: 0")
    if scene.mesh is not None:
        lines.append(f"  mesh: {len(scene.mesh.vertices):,} vertices, {len(scene.mesh.faces):,} faces")
    return "\n".join(lines)


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return (f"usage: scene3d <command> [key=value ...]\n\ncommands:\n{rows}\n\n"
            f"scene3d <command> --help lists a command's arguments; configs: {REPO_ROOT / 'configs'}")


def _command_help(command: str) -> str:
    """A command's one-line description and its arguments: the commented YAML of its config."""
    try:
        path = config_dir() / f"{command.replace('-', '_')}.yaml"
        args = path.read_text(encoding="utf-8").rstrip() if path.is_file() else "(no arguments)"
    except ConfigError as exc:
        args = str(exc)
    return (f"usage: scene3d {command} key=value ...\n{COMMANDS[command][1]}\n\n"
            f"arguments (key: default  # meaning; ??? = required) from {command.replace('-', '_')}.yaml:\n{args}")


HELP = ("-h", "--help", "help")
RAW_KEYS = {"ground": ("query",)}
"""Arguments taken as typed, not parsed by Hydra (so a sentence may hold commas, quotes or
brackets), and repeatable: ``scene3d ground query="a, b" query="c"`` gives a list of two."""


def _take_raw(command: str, overrides: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    keys = RAW_KEYS.get(command, ())
    raw: dict[str, list[str]] = {}
    rest = []
    for arg in overrides:
        key, eq, value = arg.partition("=")
        if eq and key in keys:
            raw.setdefault(key, []).append(value)
        else:
            rest.append(arg)
    return rest, raw


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scene3d`` console script; returns the exit code.

    Help and argument errors are answered before any model or heavy library is imported;
    the thread policy (:mod:`scene3d.runtime`) is applied before torch is.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in HELP:
        print(_usage())
        return 0 if argv else 2
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"scene3d: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if any(arg in HELP for arg in overrides):
        print(_command_help(command))
        return 0
    try:
        from scene3d.runtime import configure_threads

        configure_threads()
        overrides, raw = _take_raw(command, overrides)
        cfg = compose(command, overrides)
        for key, values in raw.items():
            cfg[key] = values
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(f"missing required argument{'s' if len(missing) > 1 else ''} "
                              f"{' '.join(k + '=...' for k in missing)} (scene3d {command} --help)")
        return COMMANDS[command][0](cfg)
    except (Scene3DError, ValueError) as exc:  # bad input or arguments: a message, not a traceback
        print(f"scene3d {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
