"""Generate language for every scene folder of a dataset into ``<data>/language.jsonl``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from scene3d.graph import RelationConfig
from scene3d.graph.batch import frame_viewpoint
from scene3d.io import list_scene_folders, load_scene, write_utterances_jsonl
from scene3d.language.corpus import language_for_scene
from scene3d.language.generate import LanguageConfig, language_stats
from scene3d.parallel import map_progress
from scene3d.structures import Utterance


def _language_one(folder: Path, seed: int, config: LanguageConfig, relation_config: RelationConfig,
                  viewpoint: str) -> list[Utterance]:
    scene = load_scene(folder, frames=viewpoint == "first_frame", mesh=False)
    vp = frame_viewpoint(scene) if viewpoint == "first_frame" else None
    return language_for_scene(scene, seed, config, relation_config, vp)


def language_dataset(data: str | Path, seed: int = 0, workers: int = 1, config: LanguageConfig | None = None,
                     relation_config: RelationConfig | None = None, viewpoint: str = "first_frame",
                     progress: bool = True) -> dict:
    """Write ``<data>/language.jsonl`` (all scenes, sorted by scene) and return its statistics.

    Each scene's sentences depend only on ``(seed, scene id)``, whatever ``workers`` is.
    """
    if viewpoint not in ("first_frame", "none"):
        raise ValueError(f"viewpoint must be 'first_frame' or 'none', got {viewpoint!r}")
    folders = list_scene_folders(data)
    fn = partial(_language_one, seed=seed, config=config or LanguageConfig(),
                 relation_config=relation_config or RelationConfig(), viewpoint=viewpoint)
    per_scene = map_progress(fn, folders, workers, desc="language", unit="scene", progress=progress)
    utterances = [u for scene in per_scene for u in scene]
    write_utterances_jsonl(Path(data) / "language.jsonl", utterances)
    return language_stats(utterances)
