"""A scene's human-readable summary (what ``scene3d info`` and the importers print)."""

from __future__ import annotations

import numpy as np


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
