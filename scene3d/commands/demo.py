"""``scene3d demo``: the main job on the embedded default data, stage by stage (generate,
graphs, language, grounding training, grounding held-out scenes, the real sample scan)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from scene3d.commands.grounding import synthetic_grounding
from scene3d.config import REPO_ROOT
from scene3d.structures.summary import summarize


def _find_data_root(cfg: DictConfig) -> Path | None:
    candidates = [cfg.data_root, os.environ.get("SCENE3D_DATA"),
                  REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


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


def _demo_grounding(cfg: DictConfig, out: Path, stages: _Stages) -> None:
    """Train a small grounding model on the demo's scenes (validation scenes held out) and
    ground five referrals of a held-out scene with it."""
    from scene3d.grounding import Grounder, GroundingDataset
    from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
    from scene3d.models.grounding import GroundingConfig

    data = out / "synthetic"
    scenes, utts, held = synthetic_grounding(data, "val")
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
