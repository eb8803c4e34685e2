"""A language corpus from many real layouts (ground-truth object lists): one scene graph and its
referrals and captions per scene, over worker processes, written as one JSONL file.

``build_corpus`` is what ``data_tools/build_language_corpus.py`` drives; ``language_for_graph``
is the per-scene step shared with ``scene3d language`` (:mod:`scene3d.language.batch`).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

from scene3d.errors import SceneFormatError
from scene3d.graph import RelationConfig, SceneGraph, Viewpoint, build_scene_graph
from scene3d.io import load_gt_object_scenes, write_utterances_jsonl
from scene3d.io.atomic import atomic_write_text
from scene3d.language.generate import LanguageConfig, generate_language, language_stats
from scene3d.parallel import map_progress
from scene3d.structures import Scene, Utterance

#: ``Utterance.source`` of sentences generated on real layouts (synthetic ones are "generated").
REAL_SOURCE = "generated_real"


def language_for_graph(graph: SceneGraph, seed: int, config: LanguageConfig) -> list[Utterance]:
    """Language of one scene graph; the words depend only on ``(seed, scene id)``."""
    return generate_language(graph, seed=seed ^ zlib.crc32(graph.scene_id.encode()), config=config)


def language_for_scene(scene: Scene, seed: int, config: LanguageConfig, relation_config: RelationConfig,
                       viewpoint: Viewpoint | None = None) -> list[Utterance]:
    """Scene graph + language of one scene; the words depend only on ``(seed, scene id)``."""
    return language_for_graph(build_scene_graph(scene, viewpoint, relation_config), seed, config)


def read_scene_list(path: str | Path) -> list[str]:
    """Scene ids from a text file, one per line (blank lines and ``#`` comments skipped).

    Raises:
        SceneFormatError: the file is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "scene list not found (a text file with one scene id per line)")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def corpus_stats(utterances: list[Utterance], seconds: float, scenes: int) -> dict:
    """:func:`language_stats` plus the corpus counts: referrals, unique referral texts (per
    scene), unique targets, object and scene captions, time and scenes per second."""
    refs = [u for u in utterances if u.kind == "referral"]
    stats = language_stats(utterances)
    stats.update(
        referrals=len(refs),
        unique_referrals=len({(u.scene_id, u.text) for u in refs}),
        unique_targets=len({(u.scene_id, u.target_id) for u in refs}),
        object_captions=sum(u.kind == "object_caption" for u in utterances),
        scene_captions=sum(u.kind == "scene_caption" for u in utterances),
        seconds=round(seconds, 2),
        scenes_per_second=round(scenes / max(seconds, 1e-9), 1),
    )
    return stats


def build_corpus(objects: str | Path, out: str | Path, exclude: str | Path | None = None, workers: int = 1,
                 seed: int = 0, config: LanguageConfig | None = None, relation_config: RelationConfig | None = None,
                 progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Referrals and captions for every scene of an object-list file.

    Writes, atomically, ``<out>/language.jsonl`` (one Utterance per line, sorted by scene, with
    ``source = "generated_real"`` unless ``config.source`` says otherwise), ``<out>/scenes.txt``
    (the scenes used) and ``<out>/stats.json`` (:func:`corpus_stats` plus the inputs).

    Args:
        objects: ``objects_*.json(.gz)`` in the schema of :func:`scene3d.io.load_gt_object_scenes`.
        out: output folder (created).
        exclude: a file of scene ids (one per line) to leave out, e.g. held-out scenes.
        workers: processes; the output is the same for any number.
        seed: word choices; each scene's sentences depend only on (seed, scene id).
        config: what to generate (default: ``LanguageConfig(source="generated_real")``).
        relation_config: relation thresholds.
        progress: show a tqdm bar.
        log: where the one-line summary goes.

    Returns:
        The statistics written to ``stats.json``.

    Raises:
        SceneFormatError: a missing or malformed objects or exclude file.
    """
    cfg = config or LanguageConfig(source=REAL_SOURCE)
    excluded = set(read_scene_list(exclude)) if exclude is not None else set()
    scenes = load_gt_object_scenes(objects)
    ids = sorted(s for s in scenes if s not in excluded)
    if not ids:
        raise SceneFormatError(objects, "no scene left to use (every scene is in the exclude list)")
    fn = partial(language_for_scene, seed=seed, config=cfg, relation_config=relation_config or RelationConfig())
    t0 = time.perf_counter()
    per_scene = map_progress(fn, [scenes[s] for s in ids], workers, desc="corpus", unit="scene", progress=progress)
    seconds = time.perf_counter() - t0
    utterances = [u for scene in per_scene for u in scene]
    out = Path(out)
    write_utterances_jsonl(out / "language.jsonl", utterances)
    atomic_write_text(out / "scenes.txt", "".join(s + "\n" for s in ids))
    stats = corpus_stats(utterances, seconds, len(ids))
    stats["inputs"] = {"objects": str(objects), "exclude": None if exclude is None else str(exclude),
                       "excluded_scenes": len(excluded & set(scenes)), "unknown_excluded_ids": len(excluded - set(scenes)),
                       "seed": seed, "workers": workers, "config": asdict(cfg)}
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=1) + "\n")
    log(f"{len(ids)} scenes: {stats['referrals']} referrals ({stats['unique_referrals']} unique texts, "
        f"{stats['unique_targets']} targets), {stats['object_captions']} object captions, "
        f"{stats['scene_captions']} scene captions in {seconds:.1f} s ({stats['scenes_per_second']} scenes/s) -> {out}")
    return stats
