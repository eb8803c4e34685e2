"""Scenes per second of the synthetic generator, with and without frames.

    python benchmarks/bm_generate.py [--scenes 12] [--workers 1]

Also measures the ray caster that makes the frames: trimesh + embreex (Intel
Embree) against trimesh's pure-Python fallback on the same scene mesh, and the
agreement of projected points with the rendered instance masks.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np

from scene3d.synth import SynthConfig, generate_dataset, generate_scene


def _rate(num: int, workers: int, config: SynthConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_dataset(tmp, num, seed=0, workers=workers, config=config, progress=False)
        return num / (time.perf_counter() - t0)


def _raycast_times() -> tuple[float, float | None, int]:
    import trimesh
    from trimesh.ray.ray_triangle import RayMeshIntersector

    scene = generate_scene("bm", 1, "living room", SynthConfig(num_frames=0))
    mesh = trimesh.Trimesh(scene.mesh.vertices, scene.mesh.faces, process=False)
    rng = np.random.default_rng(0)
    origins = np.tile([[2.0, 2.0, 1.5]], (320 * 240, 1))
    dirs = rng.normal(size=(320 * 240, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    t0 = time.perf_counter()
    mesh.ray.intersects_location(origins, dirs, multiple_hits=False)
    fast = time.perf_counter() - t0
    slow = None
    if type(mesh.ray).__module__.endswith("pyembree"):
        t0 = time.perf_counter()
        RayMeshIntersector(mesh).intersects_location(origins[:4000], dirs[:4000], multiple_hits=False)
        slow = (time.perf_counter() - t0) * (320 * 240) / 4000
    return fast, slow, len(mesh.faces)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    with_frames = _rate(args.scenes, args.workers, SynthConfig())
    without = _rate(args.scenes, args.workers, SynthConfig(num_frames=0))
    print(f"scenes/s with 6 frames 320x240: {with_frames:.2f}   without frames: {without:.2f}   "
          f"(60k points, workers={args.workers})")
    fast, slow, faces = _raycast_times()
    print(f"ray cast of one 320x240 frame ({faces} faces): embree {fast * 1000:.0f} ms"
          + (f", trimesh fallback {slow * 1000:.0f} ms (extrapolated from 4000 rays), "
             f"ratio {slow / fast:.0f}x" if slow else " (embreex not installed)"))


if __name__ == "__main__":
    main()
