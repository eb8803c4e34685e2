"""Per-point colourings made outside the viewer for one scene: the output of ``scene3d segment``
(``segment.json`` + ``segment.npz``), shown as extra colour modes. Pure numpy, no viser needed.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene3d.structures import Scene
from scene3d_viewer.colors import class_table, heat_colors
from scene3d_viewer.state import ViewerError

#: The colour modes a ``scene3d segment`` folder adds ("query relevancy" only when it has a query).
LAYER_MODES: tuple[str, ...] = ("segment", "feature pca", "query relevancy")


@dataclass
class PointLayers:
    """Extra colourings of one scene's points.

    Attributes:
        scene_id: the scene they colour.
        colors: mode -> ``(N, 3)`` uint8 colours of the scene's ``N`` points.
        source: the folder they were read from.
    """

    scene_id: str
    colors: dict[str, np.ndarray]
    source: Path

    def colors_for(self, scene: Scene, mode: str) -> np.ndarray:
        """``(N, 3)`` uint8 colours of ``mode`` for ``scene``.

        Raises:
            ViewerError: another scene (by id or point count), or a mode these layers lack.
        """
        if scene.scene_id != self.scene_id:
            raise ViewerError(f"{self.source} colours scene {self.scene_id!r}, not {scene.scene_id!r}")
        if mode not in self.colors:
            raise ViewerError(f"{self.source} has no {mode!r} colouring (it has {', '.join(self.colors)})")
        colors = self.colors[mode]
        if len(colors) != scene.num_points:
            raise ViewerError(f"{self.source} colours {len(colors)} points, scene {scene.scene_id!r} has "
                              f"{scene.num_points}: segment the scene again")
        return colors


def load_segment_layers(folder: str | Path) -> PointLayers:
    """The colour modes of a ``scene3d segment`` output folder: ``segment`` (each point's label, in
    the class mode's colours: :func:`~scene3d_viewer.colors.class_table` of the run's class names),
    ``feature pca`` (``pca_rgb``) and, with a query, ``query relevancy`` (``inferno`` heat in [0, 1]).

    Raises:
        ViewerError: the folder, a file or an array is missing or malformed (names the file).
    """
    folder = Path(folder)
    meta_path, npz_path = folder / "segment.json", folder / "segment.npz"
    for path in (meta_path, npz_path):
        if not path.is_file():
            raise ViewerError(f"{path}: not found (segment= takes a folder written by scene3d segment)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        scene_id, classes, n = str(meta["scene_id"]), list(meta["classes"]), int(meta["num_points"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ViewerError(f"{meta_path}: not a scene3d segment summary ({exc})") from None
    try:
        with np.load(npz_path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ViewerError(f"{npz_path}: unreadable ({exc})") from None
    labels, pca = arrays.get("labels"), arrays.get("pca_rgb")
    if labels is None or labels.shape != (n,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(classes):
        raise ViewerError(f"{npz_path}: labels must be ({n},) indices into the {len(classes)} classes of {meta_path.name}")
    if pca is None or pca.shape != (n, 3) or pca.dtype != np.uint8:
        raise ViewerError(f"{npz_path}: pca_rgb must be ({n}, 3) uint8")
    colors = {"segment": class_table(classes)[labels], "feature pca": pca}
    if "relevancy" in arrays:
        if arrays["relevancy"].shape != (n,):
            raise ViewerError(f"{npz_path}: relevancy must be ({n},)")
        colors["query relevancy"] = heat_colors(arrays["relevancy"])
    return PointLayers(scene_id=scene_id, colors=colors, source=folder)
