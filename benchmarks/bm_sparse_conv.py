"""Benchmark the sparse-convolution core against spconv 2.3.8 and dense conv3d.

Same inputs, same run: a real scan (ScanNet scene0000_00 mesh vertices at 2 cm) and a
synthetic room surface sampled densely (~100k voxels at 2 cm). For C = 32 and 64 it times
one 3x3x3 ``SubMConv3d`` (forward, forward+backward; with and without building the
kernel map) for each of our algorithms (``gather_scatter`` with the native CPU kernel and on its
PyTorch path) and spconv, the whole ``SparseUNet``
(ours vs the same network with spconv layers via ``to_spconv``), dense ``conv3d`` on a
64^3 crop (the full 2 cm grid does not fit), and ``torch.mm`` GFLOP/s as the GEMM bound.

Times are the best of ``--repeats`` runs after one warm-up, on ``--threads`` intra-op
threads (default 1, the host is shared; both peers get the same threads).

    python benchmarks/bm_sparse_conv.py                      # CPU, ~3 min
    python benchmarks/bm_sparse_conv.py --device cuda        # on a GPU machine
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scene3d.models import SparseUNet, SparseUNetConfig
from scene3d.sparse import CONV_ALGORITHMS, SparseTensor, SubMConv3d, native, voxelize, weight_to_dense
from scene3d.sparse.spconv_adapter import (
    enable_spconv_cpu_backward,
    spconv_available,
    to_spconv,
    weight_to_spconv,
)

SCAN = Path("/work/shared/data/scannet/scenes/scene0000_00/scene0000_00_vh_clean_2.ply")
VOXEL = 0.02  # metres


def scan_points(path: Path) -> torch.Tensor | None:
    """``(P, 3)`` float32 mesh vertices (metres) of a ScanNet ``*_vh_clean_2.ply``, or None."""
    if not path.exists():
        return None
    from plyfile import PlyData

    v = PlyData.read(str(path))["vertex"]
    return torch.from_numpy(np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float32))


def synthetic_room(n: int = 420_000, seed: int = 0) -> torch.Tensor:
    """``(n, 3)`` points on a 5 m x 4 m room's floor, 1.2 m walls and four boxes (z up, metres)."""
    gen = torch.Generator().manual_seed(seed)
    # (origin, edge u, edge v) of each rectangle
    rects = [
        ((0, 0, 0), (5, 0, 0), (0, 4, 0)),
        ((0, 0, 0), (5, 0, 0), (0, 0, 1.2)),
        ((0, 4, 0), (5, 0, 0), (0, 0, 1.2)),
        ((0, 0, 0), (0, 4, 0), (0, 0, 1.2)),
        ((5, 0, 0), (0, 4, 0), (0, 0, 1.2)),
    ]
    for x0, y0, sx, sy, sz in [(0.5, 0.5, 1.0, 0.6, 0.75), (3, 1, 0.5, 0.5, 0.45), (1, 3, 2, 0.8, 0.5), (4, 3, 0.6, 0.6, 1.0)]:
        rects += [
            ((x0, y0, sz), (sx, 0, 0), (0, sy, 0)),
            ((x0, y0, 0), (sx, 0, 0), (0, 0, sz)),
            ((x0, y0 + sy, 0), (sx, 0, 0), (0, 0, sz)),
            ((x0, y0, 0), (0, sy, 0), (0, 0, sz)),
            ((x0 + sx, y0, 0), (0, sy, 0), (0, 0, sz)),
        ]
    o, u, v = (torch.tensor([r[i] for r in rects], dtype=torch.float32) for i in range(3))
    area = torch.linalg.cross(u, v).norm(dim=1)
    which = torch.multinomial(area, n, replacement=True, generator=gen)
    ab = torch.rand(n, 2, generator=gen)
    return o[which] + ab[:, :1] * u[which] + ab[:, 1:] * v[which]


def best_times(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Best wall time in seconds of each function over ``repeats`` rounds after one warm-up.

    The functions run round-robin (a, b, a, b, ...), so a change in the load of the shared
    host hits all of them alike and their ratios stay fair.
    """
    best = {name: float("inf") for name in fns}
    for round_ in range(repeats + 1):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_ > 0:
                best[name] = min(best[name], time.perf_counter() - t)
    return best


def best_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Best wall time in seconds of ``fn`` over ``repeats`` runs after one warm-up."""
    return best_times({"fn": fn}, repeats, device)["fn"]


def no_grad(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run under ``torch.no_grad()``."""

    def run() -> object:
        with torch.no_grad():
            return fn()

    return run


def torch_path(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with the native CPU kernel turned off (``gather_scatter`` on its PyTorch path)."""
    def run() -> object:
        supports = native.supports
        native.supports = lambda *args: False
        try:
            return fn()
        finally:
            native.supports = supports

    return run


def gemm_gflops(device: torch.device, m: int, k: int, n: int, repeats: int) -> float:
    """Measured ``torch.mm`` GFLOP/s for an ``(m, k) @ (k, n)`` float32 product."""
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    return 2 * m * k * n / best_time(lambda: a @ b, repeats, device) / 1e9


def spconv_runs_on(device: torch.device) -> bool:
    """Whether the installed spconv can run a 3x3x3 submanifold convolution on ``device``."""
    try:
        import spconv.pytorch as spc

        enable_spconv_cpu_backward()
        conv = spc.SubMConv3d(1, 1, 3, padding=1, bias=False).to(device)
        idx = torch.zeros(1, 4, dtype=torch.int32, device=device)
        conv(spc.SparseConvTensor(torch.ones(1, 1, device=device), idx, [1, 1, 1], 1))
    except Exception as err:  # any failure (missing kernels, driver) means: no spconv peer here
        print(f"spconv check on {device} failed: {type(err).__name__}: {err}")
        return False
    return True


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return model


class Table:
    """Rows of (dataset, C, what, implementation, seconds) rendered as markdown."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(self, dataset: str, c: str, what: str, impl: str, seconds: float | None, note: str = "") -> None:
        shown = "n/a" if seconds is None else f"{seconds * 1e3:.1f}"
        self.rows.append((dataset, c, what, impl, shown, note))
        print(f"{dataset:<22} C={c:<3} {what:<28} {impl:<26} {shown:>9} ms  {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| input | C | measured | implementation | ms | note |", "|---|---|---|---|---:|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def bench_subm(table: Table, name: str, x: SparseTensor, c: int, args: argparse.Namespace, device: torch.device) -> None:
    """Time one 3x3x3 SubMConv3d C -> C on the sites of ``x``: our algorithms and spconv."""
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(x.num_points, c, generator=gen).to(device)
    coords = x.coords
    kmap = x.manager.kernel_map(1, 1, 3, 1)
    flops = 2 * kmap.num_pairs * c * c
    convs = {alg: SubMConv3d(c, c, 3, algorithm=alg).to(device) for alg in CONV_ALGORITHMS}
    for conv in convs.values():
        conv.load_state_dict(convs["gather_scatter"].state_dict())
    conv = convs["gather_scatter"]

    def ours(grad: bool, fresh: bool, alg: str = "gather_scatter") -> Callable[[], object]:
        def run() -> object:
            f = feats.clone().requires_grad_(grad)
            xs = SparseTensor(f, coords, batch_size=1) if fresh else x.replace_features(f)
            y = convs[alg](xs)
            if grad:
                y.features.sum().backward()
            return y

        return run if grad else no_grad(run)

    fns: dict[str, Callable[[], object]] = {
        "map": lambda: SparseTensor(feats, coords).manager.kernel_map(1, 1, 3, 1),
        "ours_f": ours(False, True),
        "ours_fb": ours(True, True),
    }
    fns["gather_scatter_f"] = ours(False, False)
    fns["gather_scatter_fb"] = ours(True, False)
    if native.library() is not None and device.type == "cpu":
        fns["torch_path_f"], fns["torch_path_fb"] = torch_path(ours(False, False)), torch_path(ours(True, False))
    # the slower alternatives get one timed run each (they are 1.4-11x slower: keeps ~3 min)
    others = {f"{alg}_{kind}": ours(kind == "fb", False, alg)
              for alg in CONV_ALGORITHMS if alg != "gather_scatter" for kind in ("f", "fb")}
    if args.spconv:  # spconv's own module and tensor, so none of our code is timed
        import spconv.pytorch as spc

        enable_spconv_cpu_backward()
        sconv = spc.SubMConv3d(c, c, 3, padding=1, bias=False, indice_key="subm").to(device)
        with torch.no_grad():
            sconv.weight.copy_(weight_to_spconv(conv.weight, 3))
        idx = coords.clone()
        idx[:, 1:] -= idx[:, 1:].amin(0)
        shape = (idx[:, 1:].amax(0) + 1).tolist()
        with torch.no_grad():
            cached_dict = sconv(spc.SparseConvTensor(feats, idx, shape, 1)).indice_dict  # the "subm" pairs

        def theirs(grad: bool, fresh: bool) -> Callable[[], object]:
            def run() -> object:
                f = feats.clone().requires_grad_(grad)
                st = spc.SparseConvTensor(f, idx, shape, 1, indice_dict=None if fresh else cached_dict)
                y = sconv(st)
                if grad:
                    y.features.sum().backward()
                return y

            return run if grad else no_grad(run)

        fns |= {"spconv_cf": theirs(False, False), "spconv_cfb": theirs(True, False),
                "spconv_f": theirs(False, True), "spconv_fb": theirs(True, True)}
    t = best_times(fns, args.repeats, device) | best_times(others, 1, device)
    table.add(name, str(c), "kernel map (hash + search)", "ours", t["map"])
    for alg in CONV_ALGORITHMS:
        table.add(name, str(c), "fwd, cached map", f"ours {alg}", t[f"{alg}_f"],
                  f"{flops / t[f'{alg}_f'] / 1e9:.1f} GFLOP/s useful")
        table.add(name, str(c), "fwd+bwd, cached map", f"ours {alg}", t[f"{alg}_fb"])
    if "torch_path_f" in t:
        table.add(name, str(c), "fwd, cached map", "ours gather_scatter, PyTorch path", t["torch_path_f"],
                  f"native {t['torch_path_f'] / t['gather_scatter_f']:.2f}x faster")
        table.add(name, str(c), "fwd+bwd, cached map", "ours gather_scatter, PyTorch path", t["torch_path_fb"],
                  f"native {t['torch_path_fb'] / t['gather_scatter_fb']:.2f}x faster")
    table.add(name, str(c), "fwd incl. map", "ours gather_scatter", t["ours_f"])
    table.add(name, str(c), "fwd+bwd incl. map", "ours gather_scatter", t["ours_fb"])
    if args.spconv:
        for key, ref, what in [("spconv_cf", "gather_scatter_f", "fwd, cached map"),
                               ("spconv_cfb", "gather_scatter_fb", "fwd+bwd, cached map"),
                               ("spconv_f", "ours_f", "fwd incl. map"),
                               ("spconv_fb", "ours_fb", "fwd+bwd incl. map")]:
            table.add(name, str(c), what, "spconv 2.3.8", t[key], f"ours {t[key] / t[ref]:.2f}x spconv")


def bench_dense_crop(table: Table, name: str, x: SparseTensor, c: int, args: argparse.Namespace, device: torch.device) -> None:
    """Ours vs dense conv3d on the densest-looking 64^3 crop (around the median site)."""
    size = 64
    centre = x.coords[:, 1:].median(dim=0).values
    lo = centre - size // 2
    inside = ((x.coords[:, 1:] >= lo) & (x.coords[:, 1:] < lo + size)).all(1)
    coords = x.coords[inside].clone()
    coords[:, 1:] -= lo
    feats = torch.randn(coords.shape[0], c, device=device)
    conv = SubMConv3d(c, c, 3).to(device)
    crop = SparseTensor(feats, coords, batch_size=1)
    crop.manager.kernel_map(1, 1, 3, 1)
    dense_in = torch.zeros(1, size, size, size, c, device=device)
    idx = coords.long()
    dense_in[0, idx[:, 1], idx[:, 2], idx[:, 3]] = feats
    dense_in = dense_in.permute(0, 4, 1, 2, 3).contiguous()
    wd = weight_to_dense(conv.weight.detach(), 3).contiguous()
    with torch.no_grad():
        t_sparse = best_time(lambda: conv(crop), args.repeats, device)
        t_dense = best_time(lambda: F.conv3d(dense_in, wd, padding=1), args.repeats, device)
    label = f"{name} 64^3 crop ({coords.shape[0]} sites)"
    table.add(label, str(c), "fwd, cached map", "ours gather_scatter", t_sparse)
    table.add(label, str(c), "fwd", "dense conv3d", t_dense, f"ours {t_dense / t_sparse:.1f}x dense")


def bench_unet(table: Table, name: str, points: torch.Tensor, args: argparse.Namespace, device: torch.device) -> None:
    """Whole SparseUNet forward and forward+backward, ours vs the same weights on spconv."""
    cfg = getattr(SparseUNetConfig, args.unet)(in_channels=3)
    torch.manual_seed(0)
    net = SparseUNet(cfg).to(device)
    colors = torch.rand(points.shape[0], 3, generator=torch.Generator().manual_seed(1)).to(device)
    points = points.to(device)
    nets = {"ours gather_scatter": net}
    if args.spconv:
        nets["spconv 2.3.8"] = to_spconv(copy.deepcopy(net))
    def forward(model: torch.nn.Module, grad: bool) -> Callable[[], object]:
        def run() -> None:
            x, _ = voxelize(points, VOXEL, colors)
            out = model(x, points)
            if grad:
                out.point_features.sum().backward()

        return run if grad else no_grad(run)

    fns = {f"{impl}|{grad}": forward(model, grad) for impl, model in nets.items() for grad in (False, True)}
    if native.library() is not None and device.type == "cpu":
        fns |= {f"ours, PyTorch path|{grad}": torch_path(forward(net, grad)) for grad in (False, True)}
        nets["ours, PyTorch path"] = net
    t = best_times(fns, args.unet_repeats, device)
    times = {impl: (t[f"{impl}|False"], t[f"{impl}|True"]) for impl in nets}
    for impl, (t_f, t_fb) in times.items():
        note_f = note_fb = ""
        o_f, o_fb = times["ours gather_scatter"]
        if impl == "ours, PyTorch path":
            note_f, note_fb = f"native {t_f / o_f:.2f}x faster", f"native {t_fb / o_fb:.2f}x faster"
        elif impl != "ours gather_scatter":
            note_f, note_fb = f"ours {t_f / o_f:.2f}x spconv", f"ours {t_fb / o_fb:.2f}x spconv"
        table.add(name, "-", f"{args.unet} fwd (incl. voxelize)", impl, t_f, note_f)
        table.add(name, "-", f"{args.unet} fwd+bwd", impl, t_fb, note_fb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unet", default="minkunet14", choices=["minkunet14", "minkunet18", "minkunet34"])
    parser.add_argument("--unet-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads (default 1: on a shared 2-core host 2 threads spin in "
                             "OpenMP barriers whenever another process runs, and times become noise)")
    parser.add_argument("--no-spconv", dest="spconv", action="store_false", help="skip the spconv peer")
    parser.add_argument("--scan", type=Path, default=SCAN)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results_sparse.md"))
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.spconv and not spconv_available():
        print("spconv is not installed: skipping the spconv peer (pip install spconv)")
        args.spconv = False
    if args.spconv and not spconv_runs_on(device):
        print(f"spconv cannot run on {device} (the CPU wheel has no CUDA kernels; install spconv-cu12x): "
              "skipping the spconv peer")
        args.spconv = False

    table = Table()
    started, load_start = time.time(), os.getloadavg()[0]
    mm_big = gemm_gflops(device, 2048, 2048, 2048, args.repeats)
    table.add("torch.mm 2048^3", "-", "GEMM bound", "torch.mm fp32", None, f"{mm_big:.1f} GFLOP/s")
    for c in args.channels:
        mm_skinny = gemm_gflops(device, 100_000, c, c, args.repeats)
        table.add(f"torch.mm 100k x {c} x {c}", str(c), "GEMM bound (conv shape)", "torch.mm fp32", None,
                  f"{mm_skinny:.1f} GFLOP/s")

    inputs: list[tuple[str, torch.Tensor]] = []
    scan = scan_points(args.scan)
    if scan is None:
        print(f"{args.scan} not found: skipping the real scan")
    else:
        inputs.append(("scannet scene0000_00", scan))
    inputs.append(("synthetic room", synthetic_room()))
    for name, points in inputs:
        x, _ = voxelize(points.to(device), VOXEL)
        kmap = x.manager.kernel_map(1, 1, 3, 1)
        label = f"{name} ({x.num_points // 1000}k vox)"
        print(f"{label}: {kmap.num_pairs / max(x.num_points, 1):.1f} of 27 neighbours per site on average")
        for c in args.channels:
            bench_subm(table, label, x, c, args, device)
            bench_dense_crop(table, name, x, c, args, device)
        bench_unet(table, label, points, args, device)
    elapsed = time.time() - started

    header = (
        f"# Sparse convolution benchmark\n\n"
        f"- date: {datetime.date.today().isoformat()}; machine: {machine()}, "
        f"{torch.get_num_threads()} intra-op threads, device {device}; torch {torch.__version__}\n"
        f"- command: `python benchmarks/bm_sparse_conv.py --device {args.device} --threads {args.threads}` "
        f"({elapsed:.0f} s); "
        f"times are the best of {args.repeats} (UNet and the autograd / implicit_gemm rows: "
        f"{args.unet_repeats} / 1) after a warm-up, in ms, peers timed round-robin; "
        f"1-minute load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"(this run adds about 1)\n"
        f"- SubMConv3d 3x3x3 C -> C, no bias; 'incl. map' builds a new SparseTensor (hashing) and "
        f"kernel map every call, as spconv does; 'useful GFLOP/s' = 2 * pairs * C * C / time\n"
        f"- UNet: {args.unet} (in 3, out 96), 2 cm voxels, input = voxelize + net + trilinear devoxelize\n\n"
    )
    args.out.write_text(header + table.markdown() + "\n")
    print(f"wrote {args.out} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
