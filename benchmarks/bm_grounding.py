"""Grounding latency: one query against a ~50-object scene on the CPU (p50 / p95).

    python benchmarks/bm_grounding.py [--run RUN] [--queries 100] [--threads 1] [--rotations 4] \
        [--settings eager traced int8]

Each query is a new sentence, so the time includes encoding it with all-MiniLM-L6-v2.
Without ``--run`` an untrained model of the default size is timed (latency does not
depend on the weights). Each setting is a Grounder of its own, with its own text encoder:
``traced`` is the default Grounder (model and text encoder run through TorchScript traces),
``int8`` is ``Grounder(int8=True)`` (sentences encoded in int8 too) and ``eager`` is the
peer: model and text encoder called as plain modules, as before the traces. The settings
take turns query by query, so they share the machine's load; the load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from scene3d.grounding import Grounder, TextCache
from scene3d.models.grounding import GroundingTransformer
from scene3d.models.text_encoder import TextEncoder


def _scene():
    root = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    gt = root / "scannet" / "meta" / "objects_train_scenes.json.gz"
    if gt.is_file():
        from scene3d.io import load_gt_object_scenes

        scenes = load_gt_object_scenes(gt).values()
        return min(scenes, key=lambda s: abs(len(s.objects) - 50)), "ScanNet GT object list"
    from scene3d.synth import SynthConfig, generate_scene

    return generate_scene("bm", 3, "office", SynthConfig(num_points=500, num_frames=0)), "synthetic office"


def _grounder(run: Path | None, setting: str) -> Grounder:
    int8 = setting == "int8"
    grounder = (Grounder.from_checkpoint(run, device="cpu", int8=int8) if run
                else Grounder(GroundingTransformer(), device="cpu", int8=int8))
    if setting == "eager":   # the peer: plain module calls, with a text encoder of its own
        encoder = TextEncoder()
        encoder._traced = lambda **tokens: encoder.model(**tokens).last_hidden_state
        grounder.net, grounder.cache = grounder.model, TextCache(encoder)
    return grounder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=None)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rotations", type=int, default=4, help="turns of the scene averaged per answer")
    ap.add_argument("--settings", nargs="+", choices=["eager", "traced", "int8"], default=["traced"],
                    help="settings timed in turns (see above)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    grounders = {}
    for setting in args.settings:
        grounders[setting] = _grounder(args.run, setting)
        grounders[setting].rotations = args.rotations
    scene, source = _scene()
    labels = sorted({o.label for o in scene.objects})
    rng = np.random.default_rng(0)
    words = ["near", "next to", "on", "left of", "between", "far from", "closest to"]
    for grounder in grounders.values():
        grounder.ground(scene, "warm up the chair")
    times = {s: [] for s in grounders}
    text_times = {s: [] for s in grounders}
    load_before = os.getloadavg()
    for k in range(args.queries):
        a, b = rng.choice(labels, 2)
        query = f"the {a} {rng.choice(words)} the {b} number {k}"  # new text: no cache hit
        for setting, grounder in grounders.items():
            t0 = time.perf_counter()
            grounder.ground(scene, query)
            times[setting].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with torch.inference_mode():
                grounder.cache.sentence_encoder([query + " again"])  # the sentence encoder alone, same length
            text_times[setting].append(time.perf_counter() - t0)
    print(f"machine: {platform.machine()}, {args.threads} thread(s), {args.rotations} rotation(s); scene: {source}, "
          f"{len(scene.objects)} objects; load average (1, 5, 15 min) before {load_before}, "
          f"after {os.getloadavg()}")
    for setting in grounders:
        t, tt = np.array(times[setting]) * 1000, np.array(text_times[setting]) * 1000
        print(f"{setting}: latency per query p50 {np.percentile(t, 50):.1f} ms, p95 {np.percentile(t, 95):.1f} ms, "
              f"mean {t.mean():.1f} ms over {len(t)} queries (goal < 20 ms); of which the sentence encoder "
              f"(all-MiniLM-L6-v2) p50 {np.percentile(tt, 50):.1f} ms")


if __name__ == "__main__":
    main()
