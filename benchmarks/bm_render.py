"""Benchmark: rendering a 32-d feature field on an indoor-room sparse voxel set.

Compares, in one run and on the same field and rays:

* ``ours-skip``     - ``OccupiedRaySampler`` (empty-space skipping) + ``SparseVoxelField`` + packed compositing
* ``ours-uniform``  - ``UniformRaySampler`` (all 64 bins) + the same field + packed compositing
* ``padded-torch``  - the same 64 uniform samples as a padded (R, 64) tensor, straightforward padded
  cumsum compositing (the in-run reference)
* ``nerfacc-dense`` - the same padded samples composited by nerfacc 0.5.3
  ``render_weight_from_density`` + ``accumulate_along_rays`` (its dense path; its packed path is
  CUDA-only). Measured only when ``nerfacc`` imports (run with a venv that has it).

Reports rays/s end to end (sampling + field + compositing), rays/s of compositing alone,
samples evaluated per ray, and memory per ray (CUDA: peak allocated; CPU: peak RSS growth of a
fresh subprocess rendering one chunk). Writes a Markdown table to ``--out``.

Run from the repository root::

    python benchmarks/bm_render.py                      # CPU, 1 thread, ~2 minutes
    python benchmarks/bm_render.py --threads 0          # CPU, one thread per core
    python benchmarks/bm_render.py --device cuda
    /tmp/venv-nerfacc/bin/python benchmarks/bm_render.py   # with the nerfacc peer
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scene3d.render import (  # noqa: E402
    Cameras,
    FieldOutput,
    Rays,
    SparseVoxelField,
    SparseVoxelGrid,
    composite,
    rays_from_cameras,
    sample_occupied,
    sample_uniform,
)

try:
    import nerfacc  # type: ignore[import-not-found]
    from nerfacc.volrend import accumulate_along_rays as nerfacc_accumulate  # type: ignore[import-not-found]
    from nerfacc.volrend import render_weight_from_density as nerfacc_weights  # type: ignore[import-not-found]
except ImportError:
    nerfacc = None

FEATURE_DIM = 32
NUM_SAMPLES = 64
VOXEL_SIZE = 0.05
ROOM = (6.0, 5.0, 3.0)  # metres
SURFACE_DENSITY = 200.0  # 1/m at voxel centres: a 5 cm surface voxel is nearly opaque


# ----------------------------------------------------------------------------- scene
def _box_shell(lo: tuple[int, int, int], hi: tuple[int, int, int]) -> torch.Tensor:
    """(K, 3) integer coords of the surface voxels of the box ``lo <= c < hi``."""
    axes = [torch.arange(a, b) for a, b in zip(lo, hi)]
    c = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)  # (X*Y*Z, 3)
    lo_t, hi_t = torch.tensor(lo), torch.tensor(hi) - 1
    return c[((c == lo_t) | (c == hi_t)).any(-1)]


def room_voxels() -> torch.Tensor:
    """(M, 3) occupied voxels: the surfaces of a 6 x 5 x 3 m room and four pieces of furniture, 5 cm voxels."""
    n = [round(s / VOXEL_SIZE) for s in ROOM]  # 120, 100, 60
    v = lambda metres: round(metres / VOXEL_SIZE)  # noqa: E731
    parts = [
        _box_shell((0, 0, 0), tuple(n)),  # floor, ceiling, walls
        _box_shell((v(0.5), v(0.5), 1), (v(2.5), v(2.1), v(0.55))),  # bed
        _box_shell((v(3.5), v(2.0), 1), (v(4.7), v(2.8), v(0.75))),  # table
        _box_shell((v(5.3), v(3.8), 1), (v(5.9), v(4.9), v(1.9))),  # wardrobe
        _box_shell((v(0.2), v(4.2), 1), (v(1.8), v(4.7), v(0.9))),  # sideboard
    ]
    return torch.unique(torch.cat(parts), dim=0)


def room_cameras(num_cameras: int, height: int, width: int) -> Cameras:
    """Cameras inside the room at 1.3-1.7 m, random yaw, pitched 15 degrees down (OpenCV axes)."""
    g = torch.Generator().manual_seed(1)
    poses = []
    for _ in range(num_cameras):
        yaw = float(torch.rand(1, generator=g)) * 2 * math.pi
        pitch = -math.radians(15)
        fwd = torch.tensor([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
        right = torch.linalg.cross(fwd, torch.tensor([0.0, 0.0, 1.0]))
        right = right / right.norm()
        down = torch.linalg.cross(fwd, right)
        pose = torch.eye(4)
        pose[:3, :3] = torch.stack([right, down, fwd], dim=1)
        pose[:3, 3] = torch.tensor([1.0, 1.0, 1.3]) + torch.rand(3, generator=g) * torch.tensor([4.0, 3.0, 0.4])
        poses.append(pose)
    f = 0.9 * width
    K = torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
    return Cameras(K.expand(num_cameras, 3, 3).clone(), torch.stack(poses), height, width)


@dataclass
class Setup:
    grid: SparseVoxelGrid
    field: SparseVoxelField
    rays: Rays


def make_setup(device: str, num_cameras: int, height: int, width: int) -> Setup:
    coords = room_voxels()
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(coords.shape[0], FEATURE_DIM, generator=g)
    dens = SURFACE_DENSITY * (0.5 + torch.rand(coords.shape[0], generator=g))
    grid = SparseVoxelGrid(coords, VOXEL_SIZE)
    field = SparseVoxelField(grid, feats, dens).to(device)
    rays = rays_from_cameras(room_cameras(num_cameras, height, width).to(device))
    return Setup(grid=field.grid, field=field, rays=rays)


# ----------------------------------------------------------------------------- methods
def composite_padded(t_starts: torch.Tensor, t_ends: torch.Tensor, out: FieldOutput, num_rays: int):
    """Straightforward padded (R, S) compositing: the in-run reference."""
    t0, t1 = t_starts.view(num_rays, -1), t_ends.view(num_rays, -1)  # (R, S)
    sigma = out.density.view(num_rays, -1)  # (R, S)
    feats = out.features.view(num_rays, t0.shape[1], -1)  # (R, S, D)
    tau = sigma * (t1 - t0)
    trans = torch.exp(-(torch.cumsum(tau, dim=1) - tau))  # exclusive cumsum along each row
    w = trans * (1 - torch.exp(-tau))  # (R, S)
    return (w[..., None] * feats).sum(1), (w * 0.5 * (t0 + t1)).sum(1), w.sum(1)


def composite_nerfacc(t_starts: torch.Tensor, t_ends: torch.Tensor, out: FieldOutput, num_rays: int):
    """nerfacc 0.5.3 dense path on the same padded samples."""
    t0, t1 = t_starts.view(num_rays, -1), t_ends.view(num_rays, -1)  # (R, S)
    w, _, _ = nerfacc_weights(t0, t1, out.density.view(num_rays, -1))
    feats = nerfacc_accumulate(w, values=out.features.view(num_rays, t0.shape[1], -1))
    depth = nerfacc_accumulate(w, values=(0.5 * (t0 + t1))[..., None])[..., 0]
    return feats, depth, nerfacc_accumulate(w)[..., 0]


def render_chunk(method: str, setup: Setup, rays: Rays):
    """Render one chunk of rays; returns (features, depth, opacity, samples evaluated)."""
    if method == "ours-skip":
        samples = sample_occupied(rays, setup.grid, NUM_SAMPLES)
    else:
        samples = sample_uniform(rays, setup.grid.aabb(), NUM_SAMPLES)
    out = setup.field(samples.positions(rays))
    n = int(samples.ray_indices.shape[0])
    if method in ("ours-skip", "ours-uniform"):
        res = composite(samples, out)
        return res.features, res.depth, res.opacity, n
    if n != rays.origins.shape[0] * NUM_SAMPLES:
        raise RuntimeError("padded methods need every ray to hit the box; move the cameras inside the room")
    fn = composite_padded if method == "padded-torch" else composite_nerfacc
    return (*fn(samples.t_starts, samples.t_ends, out, rays.origins.shape[0]), n)


def methods() -> list[str]:
    names = ["ours-skip", "ours-uniform", "padded-torch"]
    return names + (["nerfacc-dense"] if nerfacc is not None else [])


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_all(method: str, setup: Setup, chunk: int, backward: bool, device: str):
    """Render all rays in chunks; returns (seconds, samples, outputs concatenated)."""
    r = setup.rays.origins.shape[0]
    feats, depths, opac, samples = [], [], [], 0
    _sync(device)
    start = time.perf_counter()
    for i in range(0, r, chunk):
        sub = Rays(setup.rays.origins[i : i + chunk], setup.rays.directions[i : i + chunk])
        with torch.set_grad_enabled(backward):
            f, d, o, n = render_chunk(method, setup, sub)
            if backward:
                (f.square().sum() + d.sum()).backward()
        feats.append(f.detach())
        depths.append(d.detach())
        opac.append(o.detach())
        samples += n
    _sync(device)
    return time.perf_counter() - start, samples, torch.cat(feats), torch.cat(depths), torch.cat(opac)


def composite_only_fn(method: str, setup: Setup, chunk: int) -> Callable[[], object]:
    """The compositing step alone on precomputed uniform samples (one chunk, 64 samples/ray)."""
    rays = Rays(setup.rays.origins[:chunk], setup.rays.directions[:chunk])
    with torch.no_grad():
        samples = sample_uniform(rays, setup.grid.aabb(), NUM_SAMPLES)
        out = setup.field(samples.positions(rays))
    fns: dict[str, Callable[[], object]] = {
        "ours-uniform": lambda: composite(samples, out),
        "padded-torch": lambda: composite_padded(samples.t_starts, samples.t_ends, out, chunk),
        "nerfacc-dense": lambda: composite_nerfacc(samples.t_starts, samples.t_ends, out, chunk),
    }
    return fns[method]


def time_call(fn: Callable[[], object], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        fn()
    _sync(device)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- memory
def _proc_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as fh:
        return int(next(line.split()[1] for line in fh if line.startswith(field + ":")))


def memory_probe(args: argparse.Namespace) -> dict[str, list[float]]:
    """Peak bytes per ray of every method for one chunk, forward and forward+backward.

    CUDA: allocator peak above the allocation before the chunk. CPU: growth of the RSS
    high-water mark; this runs in a fresh process started with ``MALLOC_MMAP_THRESHOLD_`` set
    so that large tensors are mmap-ed and returned on free, and the high-water mark is reset
    through ``/proc/self/clear_refs`` before each measurement (Linux only).
    """
    setup = make_setup(args.device, args.cameras, args.height, args.width)
    rays = Rays(setup.rays.origins[: args.chunk], setup.rays.directions[: args.chunk])
    result: dict[str, list[float]] = {}
    for method in methods():
        render_chunk(method, setup, Rays(rays.origins[:64], rays.directions[:64]))  # load kernels, thread pools
        result[method] = []
        for backward in (False, True):
            setup.field.zero_grad(set_to_none=True)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            else:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")  # reset VmHWM to the current RSS
                base = _proc_kib("VmRSS") * 1024
            with torch.set_grad_enabled(backward):
                f, d, _, _ = render_chunk(method, setup, rays)
                if backward:
                    (f.square().sum() + d.sum()).backward()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
                peak = torch.cuda.max_memory_allocated()
            else:
                peak = _proc_kib("VmHWM") * 1024
            del f, d
            result[method].append((peak - base) / rays.origins.shape[0])
    return result


def measure_memory(args: argparse.Namespace) -> dict[str, list[float]]:
    cmd = [sys.executable, __file__, "--probe", "--device", args.device, "--chunk", str(args.chunk),
           "--cameras", str(args.cameras), "--height", str(args.height), "--width", str(args.width),
           "--threads", str(args.threads)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model} ({os.cpu_count()} cores), torch threads: {torch.get_num_threads()}, load average at the end: {load}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--height", type=int, default=72)
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--chunk", type=int, default=4096, help="rays per chunk")
    p.add_argument("--repeats", type=int, default=3, help="timing rounds, methods interleaved (the best is kept)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocess")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results_render.md")
    p.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads; 1 (default) keeps timings stable on a shared machine, 0 = torch's default (one per core)",
    )
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        print(json.dumps(memory_probe(args)))
        return

    setup = make_setup(args.device, args.cameras, args.height, args.width)
    num_rays = setup.rays.origins.shape[0]
    names = methods()
    print(f"{setup.grid.num_voxels} voxels, {num_rays} rays, device {args.device}, methods {names}", flush=True)

    # correctness and sample counts (also the warm-up)
    rows: dict[str, dict] = {}
    reference = None
    for method in names:
        _, samples, f, d, o = run_all(method, setup, args.chunk, False, args.device)
        reference = reference or (f, d, o)
        diff = max(float((a - b).abs().max()) for a, b in zip((f, d, o), reference))
        rows[method] = dict(method=method, spr=samples / num_rays, diff=diff, fwd=0.0, fwdbwd=0.0, comp=float("nan"))

    # timings: methods interleaved in every round so that all see the same machine load; best round kept
    comp_fns = {m: composite_only_fn(m, setup, args.chunk) for m in names if m != "ours-skip"}
    for round_ in range(args.repeats):
        for method in names:
            fwd_s = run_all(method, setup, args.chunk, False, args.device)[0]
            bwd_s = run_all(method, setup, args.chunk, True, args.device)[0]
            setup.field.zero_grad(set_to_none=True)
            rows[method]["fwd"] = max(rows[method]["fwd"], num_rays / fwd_s)
            rows[method]["fwdbwd"] = max(rows[method]["fwdbwd"], num_rays / bwd_s)
        for _ in range(3):
            for method, fn in comp_fns.items():
                rate = args.chunk / time_call(fn, args.device)
                rows[method]["comp"] = rate if math.isnan(rows[method]["comp"]) else max(rows[method]["comp"], rate)
        print(f"round {round_ + 1}/{args.repeats}: " + json.dumps({m: round(r["fwd"]) for m, r in rows.items()}), flush=True)

    memory = {m: [float("nan"), float("nan")] for m in names} if args.no_memory else measure_memory(args)
    for method in names:
        rows[method]["mem_f"], rows[method]["mem_b"] = memory[method]
        print(json.dumps(rows[method]), flush=True)

    ratio = rows["ours-uniform"]["spr"] / rows["ours-skip"]["spr"]
    write_report(args, setup, list(rows.values()), ratio)
    print(f"samples ratio uniform/skip = {ratio:.1f}x; wrote {args.out}")


def _fmt(x: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(x) else f"{x:,.{digits}f}"


def write_report(args: argparse.Namespace, setup: Setup, rows: list[dict], ratio: float) -> None:
    num_rays = setup.rays.origins.shape[0]
    mem_how = "peak CUDA allocation" if args.device.startswith("cuda") else "peak RSS growth of a fresh process"
    lines = [
        "## Rendering (`benchmarks/bm_render.py`)",
        "",
        f"Date {datetime.date.today().isoformat()}; {machine()}; device `{args.device}`; torch {torch.__version__}"
        + (f"; nerfacc {nerfacc.__version__}" if nerfacc is not None else "; nerfacc not importable in this run"),
        "",
        f"Scene: surfaces of a 6 x 5 x 3 m room + 4 pieces of furniture at 5 cm voxels = {setup.grid.num_voxels:,} "
        f"occupied voxels, {FEATURE_DIM}-d features, density {SURFACE_DENSITY:g}-{1.5 * SURFACE_DENSITY:g} /m. "
        f"{args.cameras} cameras of {args.width}x{args.height} inside the room = {num_rays:,} rays, "
        f"{NUM_SAMPLES} uniform bins per ray over the room box, chunks of {args.chunk:,} rays, float32.",
        "",
        "| method | rays/s fwd | rays/s fwd+bwd | samples/ray evaluated | compositing-only rays/s | "
        "memory/ray fwd (B) | memory/ray fwd+bwd (B) | max abs diff vs ours-skip |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {_fmt(r['fwd'])} | {_fmt(r['fwdbwd'])} | {r['spr']:.2f} | {_fmt(r['comp'])} | "
            f"{_fmt(r['mem_f'])} | {_fmt(r['mem_b'])} | {r['diff']:.1e} |"
        )
    lines += [
        "",
        f"Samples evaluated, uniform / skipping: **{ratio:.1f}x** fewer with skipping (goal >= 5x).",
        "",
        "- *fwd*: sampling + field (trilinear, 8 hash lookups per sample) + compositing, no autograd; "
        "*fwd+bwd*: the same plus backward to the per-voxel features and densities.",
        "- *compositing-only*: weights + accumulation on one chunk of precomputed uniform samples (64/ray), best of "
        f"{3 * args.repeats}; this is the part nerfacc replaces (ours: packed layout, features by a sparse CSR "
        "matmul; the others: padded (R, 64)).",
        f"- *memory/ray*: {mem_how} while rendering one chunk, divided by the chunk size.",
        f"- rays/s: best of {args.repeats} rounds; in every round all methods run one after the other, so a busy "
        "moment on the shared machine hits all of them. One torch thread by default: with two threads on a "
        "2-core machine that other jobs also use, every parallel op waits for a descheduled thread and timings "
        "swing by 10x or more (`--threads 0` uses one per core).",
        "- *max abs diff*: over features, depth and opacity; skipping is exact because the field is zero "
        "outside occupied voxels.",
        "- nerfstudio was not tried as a peer: its install needs 2.6-8 GB and replaces torch unless "
        "constrained (see ARCHITECTURE.md); nerfacc's packed path is CUDA-only, so only its dense path is measured.",
    ]
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
