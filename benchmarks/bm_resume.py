"""Exact resume of ``train-grounding`` on two simulated nodes: kill -9 both mid-run, relaunch,
and compare with the uninterrupted run.

    python benchmarks/bm_resume.py --out runs/bm_resume [--code OTHER_CHECKOUT ...]

Two ``torchrun --nnodes=2 --nproc_per_node=1`` launchers (c10d rendezvous on 127.0.0.1, gloo)
train a small model with dropout on a small generated dataset. The script runs it three times:
uninterrupted; killed with SIGKILL (both nodes) once the step-``--kill-after`` checkpoint is
written; then relaunched until it finishes. It prints the largest relative difference of the
logged losses and the largest absolute weight difference between the resumed and the
uninterrupted run. ``--code`` repeats this with the package from other checkouts (e.g. an
older commit, for a before/after in one run).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(code: Path, data: Path, out: Path, args: argparse.Namespace) -> list[subprocess.Popen]:
    """Start the two node launchers; returns their processes."""
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    cmd = ["--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}",
           f"--rdzv_id=bm{port}", "-m", "scene3d.cli", "train-grounding", f"data={data}", f"out={out}",
           f"steps={args.steps}", "batch_size=8", f"checkpoint_every={args.every}", f"eval_every={args.steps}",
           "model.dim=32", "model.layers=1", "model.heads=2", "lr=0.002"]
    return [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", f"--node_rank={k}", *cmd], cwd=code,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for k in range(2)]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first listed after their parents."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode:
            raise RuntimeError(f"a node failed ({p.returncode}): {err.decode()[-2000:]}")


def losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv") as f:
        return {int(float(r["step"])): float(r["loss"]) for r in csv.DictReader(f)}


def compare(code: Path, data: Path, out: Path, args: argparse.Namespace) -> dict:
    wait(launch(code, data, out / "straight", args))
    procs = launch(code, data, out / "cut", args)
    latest = out / "cut" / "checkpoints" / "latest"
    while not (latest.is_file() and int(latest.read_text().strip()[5:]) >= args.kill_after):
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("the run ended before it could be killed: raise --steps")
        time.sleep(0.02)
    victims = [pid for p in procs for pid in descendants(p.pid)] + [p.pid for p in procs]
    for pid in victims:               # torchrun starts its workers in sessions of their own: kill each process
        os.kill(pid, signal.SIGKILL)
    for p in procs:
        p.wait()
    killed = int(latest.read_text().strip()[5:])
    wait(launch(code, data, out / "cut", args))
    a, b = losses(out / "straight"), losses(out / "cut")
    common = sorted(set(a) & set(b))
    name = f"checkpoints/step_{args.steps:08d}/model.safetensors"
    wa, wb = load_file(str(out / "straight" / name)), load_file(str(out / "cut" / name))
    return {"killed_at": killed, "loss_steps": len(common),
            "max_rel_loss": max(abs(a[s] - b[s]) / abs(a[s]) for s in common if s > killed),
            "max_abs_weight": max(float((wa[k] - wb[k]).abs().max()) for k in wa)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--code", type=Path, nargs="*", default=[], help="other checkouts to compare")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--kill-after", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = args.out / "data"
    if not (data / "language.jsonl").is_file():
        for cmd in (["generate", "num_scenes=4", f"out={data}", "num_points=500", "min_object_points=1", "num_frames=0"],
                    ["graph", f"data={data}"], ["language", f"data={data}"]):
            subprocess.run([sys.executable, "-m", "scene3d.cli", *cmd], cwd=REPO, check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    print("| code | killed at step | loss rows compared | max relative loss difference after the kill "
          "| max absolute weight difference at the end |\n|---|---|---|---|---|")
    for k, code in enumerate([REPO, *args.code]):
        r = compare(code.resolve(), data.resolve(), (args.out / f"code{k}").resolve(), args)
        print(f"| {code} | {r['killed_at']} | {r['loss_steps']} | {r['max_rel_loss']:.2e} | {r['max_abs_weight']:.2e} |",
              flush=True)


if __name__ == "__main__":
    main()
