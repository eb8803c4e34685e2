"""Generate language for every scene folder of a dataset into ``<data>/language.jsonl``.

A scene's stored ``graph.json`` (written by ``scene3d graph``) is used when it is current for the
requested relation thresholds and viewpoint (see :mod:`scene3d.graph.stored`); otherwise the
graph is rebuilt from the scene (and not written back), and the summary says how many were and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

from scene3d.graph import RelationConfig
from scene3d.graph.batch import build_folder_graph
from scene3d.graph.stored import read_current_graph
from scene3d.io import list_scene_folders, write_utterances_jsonl
from scene3d.language.corpus import language_for_graph
from scene3d.language.generate import LanguageConfig, language_stats
from scene3d.parallel import map_progress
from scene3d.structures import Utterance


def _language_one(folder: Path, seed: int, config: LanguageConfig, relation_config: RelationConfig,
                  viewpoint: str) -> tuple[list[Utterance], str]:
    """(the scene's utterances, "current" or why its stored graph was not used)."""
    graph, why = read_current_graph(folder, relation_config, viewpoint)
    if graph is None:
        graph = build_folder_graph(folder, relation_config, viewpoint)
    return language_for_graph(graph, seed, config), why


def graph_summary(reasons: list[str]) -> str:
    """One line: how many scene graphs were read from graph.json and how many were rebuilt, by reason."""
    counts = Counter(reasons)
    stored = counts.pop("current", 0)
    line = f"scene graphs: {stored} read from graph.json, {sum(counts.values())} rebuilt"
    return line + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ")" if counts else "")


def language_dataset(data: str | Path, seed: int = 0, workers: int = 1, config: LanguageConfig | None = None,
                     relation_config: RelationConfig | None = None, viewpoint: str = "first_frame",
                     progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Write ``<data>/language.jsonl`` (all scenes, sorted by scene) and return its statistics.

    Each scene's sentences depend only on ``(seed, scene id)``, whatever ``workers`` is, and are
    the same from a current stored graph as from a rebuilt one. ``log`` gets the
    :func:`graph_summary` line; the statistics hold the same counts under ``"graphs"``.
    """
    if viewpoint not in ("first_frame", "none"):
        raise ValueError(f"viewpoint must be 'first_frame' or 'none', got {viewpoint!r}")
    folders = list_scene_folders(data)
    fn = partial(_language_one, seed=seed, config=config or LanguageConfig(),
                 relation_config=relation_config or RelationConfig(), viewpoint=viewpoint)
    per_scene = map_progress(fn, folders, workers, desc="language", unit="scene", progress=progress)
    utterances = [u for scene, _ in per_scene for u in scene]
    write_utterances_jsonl(Path(data) / "language.jsonl", utterances)
    reasons = [why for _, why in per_scene]
    log(graph_summary(reasons))
    stats = language_stats(utterances)
    stats["graphs"] = dict(Counter(reasons))
    return stats
