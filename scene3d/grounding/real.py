"""Real referring language with ground-truth object lists (the ReferIt3D setting):
loading several files at once and splitting their scenes into train and held-out parts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from scene3d.errors import ConfigError
from scene3d.io import (
    load_gt_object_scenes,
    read_referit3d_csv,
    read_scanrefer_json,
    read_utterances_jsonl,
)
from scene3d.structures import Scene, Utterance


def read_language(path: str | Path) -> list[Utterance]:
    """Referrals of a ReferIt3D CSV (Nr3D / Sr3D), a ScanRefer JSON or an Utterance JSONL
    (``scene3d language`` / ``data_tools/build_language_corpus.py`` output), by suffix.

    Rows that cannot be read are left out (the readers report them); a file with no
    readable row raises.

    Raises:
        ConfigError: the file is missing or has no readable referral.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"language file {path} not found")
    if path.suffix == ".jsonl":
        utts = read_utterances_jsonl(path)
        if not utts:
            raise ConfigError(f"{path}: no utterance")
        return utts
    report = read_scanrefer_json(path) if path.suffix == ".json" else read_referit3d_csv(path)
    if not report.utterances:
        raise ConfigError(f"{path}: no readable referral ({len(report.problems)} unreadable rows)")
    return report.utterances


def load_real_grounding(language: Iterable[str | Path], objects: str | Path) -> tuple[dict[str, Scene], list[Utterance]]:
    """All referrals of the ``language`` files, and the object-list scenes they refer to.

    Args:
        language: ReferIt3D CSVs and/or ScanRefer JSONs.
        objects: the ground-truth object lists (``objects_train_scenes.json.gz`` schema).
    """
    utts = [u for path in language for u in read_language(path)]
    scenes = load_gt_object_scenes(objects, scene_ids={u.scene_id for u in utts})
    return scenes, utts


def split_scene_ids(scene_ids: Iterable[str], held_out: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """(train, held-out) scene ids: a seeded random ``held_out`` share of the sorted ids.

    Splitting by scene keeps every sentence about a held-out room out of training.
    """
    if not 0.0 <= held_out < 1.0:
        raise ConfigError(f"held_out must be in [0, 1), got {held_out}")
    ids = sorted(set(scene_ids))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_held = int(round(held_out * len(ids)))
    held = {ids[i] for i in order[:n_held]}
    return set(ids) - held, held


def read_scene_list(path: str | Path) -> set[str]:
    """Scene ids, one per line (as written by ``scene3d train-grounding`` for its held-out split)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"scene list {path} not found")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}

