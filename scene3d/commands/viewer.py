"""Command of the web viewer: ``view``."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from scene3d.errors import ConfigError


def cmd_view(cfg: DictConfig) -> int:
    scene_index = bool(cfg.index) and (Path(str(cfg.index)) / "index.sqlite").is_file()
    if not cfg.data and not (scene_index and cfg.scene):   # before the heavy imports
        raise ConfigError("missing required argument data=... (a folder of scenes), or index=<scene index> "
                          "scene=<key or scene id>")
    from scene3d_viewer import Viewer, load_search_callable, load_segment_layers

    layers = load_segment_layers(cfg.segment) if cfg.segment else None

    search, data, scene_id = None, cfg.data, cfg.scene
    if scene_index:
        from scene3d.repository import SceneIndex

        index = SceneIndex(str(cfg.index))
        search = index.search_text
        if scene_id and not (data and (Path(str(data)) / str(scene_id)).is_dir()):  # a key or id of the index
            record = index.resolve(str(scene_id))
            if not record.path or not (Path(record.path) / "scene.json").is_file():
                raise ConfigError(f"{record.key} was indexed from {record.path or 'no folder'}, which holds no scene "
                                  f"now: re-index its folder (scene3d index data=<its dataset> index={cfg.index})")
            data, scene_id = Path(record.path).parent, Path(record.path).name
    elif cfg.index:
        search = load_search_callable(str(cfg.index))
    viewer = Viewer(data, checkpoint=cfg.checkpoint, search=search, host=cfg.host, port=cfg.port,
                    out=cfg.out, max_points=cfg.max_points, point_size=cfg.point_size, top_k=cfg.top_k,
                    scene_id=scene_id, layers=layers)
    print(f"view: {len(viewer.scene_ids)} scenes of {data} at {viewer.url} (Ctrl-C stops)")
    if viewer.model_error:
        print(f"view: {viewer.model_error}", file=sys.stderr)
    viewer.serve_forever()
    return 0
