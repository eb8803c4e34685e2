"""Thread policy: torch intra-op threads x OpenMP wait policy, on an idle core and with the
other core busy (a ``yes > /dev/null`` loop started by this script), in one run.

Each setting runs in a fresh process (the OpenMP runtime reads its environment once, at
``import torch``) and times the two kinds of work of ``scene3d demo`` and ``scene3d ground``:
MiniLM encoding (sentences / s, batches of 32) and training steps of the demo's grounding
model (dim 64, 2 layers, batch 32; seconds per step after warm-up).

    python benchmarks/bm_threads.py [--steps 20] [--sentences 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = [  # (torch threads, OMP_WAIT_POLICY; None: unset, torch's default before scene3d set a policy)
    (2, None),
    (1, "PASSIVE"),
    (2, "ACTIVE"),
    (2, "PASSIVE"),
    (1, "ACTIVE"),
]


def child(data: Path, steps: int, sentences: int) -> dict:
    """Run in the measured process: MiniLM sentences / s and grounding s / step."""
    import torch

    from scene3d.commands.grounding import synthetic_grounding
    from scene3d.grounding import GroundingDataset, TextCache
    from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
    from scene3d.models.grounding import GroundingConfig
    from scene3d.models.text_encoder import minilm_text_encoder

    encoder = minilm_text_encoder()
    texts = [f"the chair number {k} next to the table by the window" for k in range(sentences)]
    encoder(texts[:32])  # warm-up
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, sentences, 32):
            encoder(texts[i:i + 32])
    encode = sentences / (time.perf_counter() - t0)
    scenes, utts, held = synthetic_grounding(data, "val")
    train = GroundingDataset.build({k: v for k, v in scenes.items() if k not in held}, utts)
    cache = TextCache(encoder)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GroundingTrainConfig(steps=3, batch_size=32, lr=5e-4, checkpoint_every=10**9, eval_every=10**9,
                                   model=GroundingConfig(dim=64, layers=2))
        train_grounding(train, Path(tmp), cfg, cache=cache, progress=False)         # warm-up, texts encoded
        t0 = time.perf_counter()
        train_grounding(train, Path(tmp), cfg, cache=cache, progress=False)         # nothing left: fixed cost
        fixed = time.perf_counter() - t0
        cfg.steps = 3 + steps
        t0 = time.perf_counter()
        train_grounding(train, Path(tmp), cfg, cache=cache, progress=False)
        step = (time.perf_counter() - t0 - fixed) / steps
    return {"sentences_per_s": encode, "s_per_step": step, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sentences", type=int, default=256)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.sentences)))
        return
    from scene3d.graph.batch import graph_dataset
    from scene3d.language.batch import language_dataset
    from scene3d.synth import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(data, 6, seed=0, progress=False)
        graph_dataset(data, progress=False)
        language_dataset(data, progress=False)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
              f"before the runs; {time.strftime('%Y-%m-%d')}")
        print("| other core | torch threads | OMP_WAIT_POLICY | MiniLM sentences/s | grounding s/step |")
        print("|---|---|---|---|---|")
        for loaded in (False, True):
            busy = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if loaded else None
            try:
                for threads, policy in SETTINGS:
                    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
                    env.update({"OMP_NUM_THREADS": str(threads), "SCENE3D_THREADS": str(threads)})
                    if policy is not None:
                        env["OMP_WAIT_POLICY"] = policy
                    run = subprocess.run([sys.executable, __file__, "--child", str(data), "--steps", str(args.steps),
                                          "--sentences", str(args.sentences)], env=env, capture_output=True,
                                         text=True, check=True)
                    r = json.loads(run.stdout.strip().splitlines()[-1])
                    print(f"| {'busy (yes loop)' if loaded else 'as found'} | {r['threads']} | {policy or 'unset'} | "
                          f"{r['sentences_per_s']:.0f} | {r['s_per_step']:.3f} |", flush=True)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()


if __name__ == "__main__":
    main()
