"""Train the grounding model on generated language in synthetic scenes and measure it on
held-out synthetic scenes and on real language with ground-truth objects (zero-shot).

    python benchmarks/bm_grounding_synthetic.py --scenes 240 --val 40 --steps 2000 --out runs/grounding

Scenes are object lists (no points or frames are needed in object-list mode); referrals come
with an explicit viewpoint (egocentric ones use it). Prints the ReferIt3D-protocol table against
the class-random floor; add ``--real`` to evaluate the run on ../shared/data's Nr3D and ScanRefer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scene3d.graph import Viewpoint, build_scene_graph
from scene3d.grounding import GroundingDataset, evaluate
from scene3d.grounding.dataset import TextCache
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.language import generate_language
from scene3d.models.text_encoder import minilm_text_encoder
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=240)
    ap.add_argument("--val", type=int, default=40)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--out", type=Path, default=Path("runs/grounding"))
    ap.add_argument("--real", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = SynthConfig(num_points=500, min_object_points=1, num_frames=0)
    vp = Viewpoint(np.array([0.3, 0.3, 1.5]), np.array([1.0, 0.7, -0.2]))
    scenes, utts = {}, []
    for i in range(args.scenes):
        s = generate_scene(f"g{i:04d}", 1000 + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)
        scenes[s.scene_id] = s
        utts += generate_language(build_scene_graph(s, vp), seed=i)
    ids = sorted(scenes)
    train_ids, val_ids = set(ids[: args.scenes - args.val]), set(ids[args.scenes - args.val:])
    train = GroundingDataset.build({k: scenes[k] for k in train_ids}, [u for u in utts if u.scene_id in train_ids])
    val = GroundingDataset.build({k: scenes[k] for k in val_ids}, [u for u in utts if u.scene_id in val_ids])
    print(f"{len(train.examples)} training referrals in {len(train.scenes)} scenes, {len(val.examples)} held out "
          f"in {len(val.scenes)} ({time.perf_counter() - t0:.0f} s)")
    cache = TextCache(minilm_text_encoder())
    model = train_grounding(train, args.out, GroundingTrainConfig(steps=args.steps, lr=args.lr, eval_every=250,
                                                                  checkpoint_every=250), val=val, cache=cache)
    print(f"held-out synthetic scenes ({time.perf_counter() - t0:.0f} s in all):")
    print(evaluate(model, cache, val).table())
    if args.real:
        root = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
        for lang in ("nr3d_train_sampled1000.csv", "ScanRefer_filtered_train_sampled1000.json"):
            subprocess.run([sys.executable, "-m", "scene3d.cli", "eval-grounding", f"checkpoint={args.out}",
                            f"utterances={root / 'language' / lang}",
                            f"objects={root / 'scannet' / 'meta' / 'objects_train_scenes.json.gz'}"], check=True)


if __name__ == "__main__":
    main()
