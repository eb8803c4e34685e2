"""Make the README's pictures of the synthetic default data: a few rendered frames
(RGB, depth, instances) and a top view of one generated room.

    python data_tools/make_synth_figures.py [--out docs/figures]   # writes synth_*.png (each < 300 kB)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scene3d.synth.generate import generate_scene  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def _instance_colors(instance: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    lut = rng.integers(40, 255, size=(int(instance.max()) + 2, 3)).astype(np.uint8)
    lut[0] = 0
    return lut[instance + 1]


def frames_figure(scene, path: Path) -> None:
    frames = scene.frames[:3]
    fig, axes = plt.subplots(3, len(frames), figsize=(3.2 * len(frames), 7.2))
    for j, fr in enumerate(frames):
        axes[0, j].imshow(fr.rgb)
        axes[1, j].imshow(np.where(fr.depth > 0, fr.depth, np.nan), cmap="viridis")
        axes[2, j].imshow(_instance_colors(fr.instance))
        for i in range(3):
            axes[i, j].set_axis_off()
    for i, title in enumerate(("RGB", "depth (m)", "instances")):
        axes[i, 0].set_title(title, loc="left", fontsize=9)
    fig.suptitle(f"{scene.scene_id}: {scene.meta.room_type}, ray-cast frames", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def top_view_figure(scene, path: Path) -> None:
    keep = ~np.isin(scene.instance_ids, [o.object_id for o in scene.objects if o.label == "ceiling"])
    pts, cols = scene.points[keep], scene.colors[keep]
    order = np.argsort(pts[:, 2])
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    ax.scatter(pts[order, 0], pts[order, 1], c=cols[order] / 255.0, s=1.5, linewidths=0)
    for obj in scene.objects:
        if obj.label in ("floor", "wall", "ceiling"):
            continue
        corners = obj.box.corners()[:4, :2]
        ax.plot(*np.vstack([corners, corners[:1]]).T, lw=0.8, color="black")
        if obj.has_front:
            c = obj.box.center[:2]
            d = 0.25 * np.array([np.cos(obj.box.yaw), np.sin(obj.box.yaw)])
            ax.arrow(c[0], c[1], d[0], d[1], width=0.01, color="red", length_includes_head=True)
        ax.text(*obj.box.center[:2], obj.label, fontsize=6, ha="center", va="center")
    for fr in scene.frames:
        eye = fr.cam_to_world[:3, 3]
        fwd = fr.cam_to_world[:3, 2]
        ax.arrow(eye[0], eye[1], 0.4 * fwd[0], 0.4 * fwd[1], width=0.015, color="blue")
    ax.set_aspect("equal")
    ax.set_title(f"{scene.scene_id}: {scene.meta.room_type}, top view (red: fronts, blue: cameras)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the pictures (default: docs/figures)")
    ap.add_argument("--seed", type=int, default=3, help="the generated room's seed")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print("generating a living room ...")
    scene = generate_scene("synth_example", seed=args.seed, room_type="living room")
    frames_figure(scene, args.out / "synth_frames.png")
    top_view_figure(scene, args.out / "synth_top_view.png")
    for p in sorted(args.out.glob("synth_*.png")):
        print(p, f"{p.stat().st_size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
