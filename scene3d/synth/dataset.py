"""Generate a whole synthetic dataset: scene folders, splits, statistics and a chart.

Scenes are independent: scene ``i`` depends only on ``(seed, i)``, so the work
shards across processes (``workers``) and machines (``start``), and an
interrupted run resumes by skipping the scenes whose folders are complete.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from scene3d.io.atomic import atomic_path, atomic_write_text
from scene3d.io.scene_folder import load_scene, save_scene
from scene3d.parallel import map_progress
from scene3d.synth.generate import ROOM_TYPES, SynthConfig, generate_scene

SPLITS = ("train", "val", "test")


@dataclass
class DatasetSummary:
    """What a generated dataset holds."""

    root: str
    seed: int
    scene_ids: list[str]
    name: str
    room_types: dict[str, int]
    categories: dict[str, int]
    splits: dict[str, list[str]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def dataset_name(seed: int, name: str | None = None) -> str:
    """A generated dataset's name, the prefix of its scene ids: ``name``, or by default ``"synth"`` for
    seed 0 and ``"synth_s<seed>"`` for other seeds, so that datasets of different seeds never share ids.

    Raises:
        ValueError: a name that is empty or holds a character other than letters, digits, ``_`` and ``-``.
    """
    name = name if name is not None else ("synth" if seed == 0 else f"synth_s{seed}")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"dataset name {name!r}: use letters, digits, '_' and '-' (it prefixes folder names)")
    return name


def scene_id_of(index: int, name: str = "synth") -> str:
    return f"{name}_{index:05d}"


def scene_plan(seed: int, index: int) -> tuple[int, str]:
    """(scene seed, room type) of scene ``index``: room types cycle in a seed-shuffled order."""
    order = np.random.default_rng(seed).permutation(len(ROOM_TYPES))
    scene_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    return scene_seed, ROOM_TYPES[int(order[index % len(ROOM_TYPES)])]


def _make_one(root: str, seed: int, name: str, index: int, config: SynthConfig) -> tuple[str, str, dict[str, int]]:
    scene_id = scene_id_of(index, name)
    folder = Path(root) / scene_id
    if (folder / "scene.json").is_file():  # resume: a folder appears only when complete
        scene = load_scene(folder, frames=False, mesh=False)
    else:
        scene_seed, room_type = scene_plan(seed, index)
        scene = generate_scene(scene_id, scene_seed, room_type, config)
        save_scene(scene, root)
    return scene_id, scene.meta.room_type or "", scene.objects_by_label()


def split_ids(scene_ids: list[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, list[str]]:
    """Deterministic train/val/test split (val and test get at least one scene when there are 3+)."""
    ids = sorted(scene_ids)
    perm = np.random.default_rng(seed + 1).permutation(len(ids))
    n_val = int(round(fractions[1] * len(ids)))
    n_test = int(round(fractions[2] * len(ids)))
    if len(ids) >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    shuffled = [ids[i] for i in perm]
    out = {"val": shuffled[:n_val], "test": shuffled[n_val:n_val + n_test], "train": shuffled[n_val + n_test:]}
    return {k: sorted(v) for k, v in out.items()}


def generate_dataset(out: str | Path, num_scenes: int, seed: int = 0, workers: int = 1,
                     config: SynthConfig | None = None,
                     split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                     progress: bool = True, name: str | None = None) -> DatasetSummary:
    """Generate ``num_scenes`` scene folders under ``out`` plus ``splits/*.txt``,
    ``dataset.json`` (counts, config) and ``stats.png`` (bar charts).

    Args:
        out: dataset root.
        num_scenes: how many scenes (ids ``<name>_00000`` ...).
        seed: dataset seed; the same seed gives byte-identical files.
        workers: processes to use (1 = in this process).
        config: sampling / rendering settings.
        split_fractions: train / val / test fractions.
        progress: show a tqdm progress bar.
        name: the dataset's name and scene-id prefix (default :func:`dataset_name`: ``synth`` for seed 0,
            ``synth_s<seed>`` otherwise); ``scene3d index`` keys the scenes by it.
    """
    if num_scenes < 1:
        raise ValueError(f"num_scenes must be >= 1, got {num_scenes}")
    if abs(sum(split_fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {split_fractions}")
    config = config or SynthConfig()
    name = dataset_name(seed, name)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    results = map_progress(partial(_make_one, str(root), seed, name, config=config), range(num_scenes), workers,
                           desc="generate", unit="scene", progress=progress)
    scene_ids = [r[0] for r in results]
    categories: Counter[str] = Counter()
    for _, _, counts in results:
        categories.update(counts)
    summary = DatasetSummary(
        root=str(root), seed=seed, scene_ids=scene_ids, name=name,
        room_types=dict(sorted(Counter(r[1] for r in results).items())),
        categories=dict(categories.most_common()),
        splits=split_ids(scene_ids, seed, split_fractions), config=asdict(config),
    )
    for name in SPLITS:
        atomic_write_text(root / "splits" / f"{name}.txt", "".join(s + "\n" for s in summary.splits[name]))
    record = asdict(summary)
    record.pop("root")
    atomic_write_text(root / "dataset.json", json.dumps(record, indent=1))
    plot_stats(summary, root / "stats.png")
    return summary


def plot_stats(summary: DatasetSummary, path: Path) -> None:
    """Bar charts of object counts per category and scenes per room type (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [4, 1]})
    names, counts = zip(*summary.categories.items())
    ax1.bar(range(len(names)), counts, color="#4a7ab5")
    ax1.set_xticks(range(len(names)), names, rotation=75, fontsize=7)
    ax1.set_ylabel("objects")
    ax1.set_title(f"{len(summary.scene_ids)} scenes: objects per category", fontsize=9)
    rooms, n = zip(*summary.room_types.items())
    ax2.bar(range(len(rooms)), n, color="#b5784a")
    ax2.set_xticks(range(len(rooms)), rooms, rotation=60, fontsize=7)
    ax2.set_title("scenes per room type", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)


def format_table(summary: DatasetSummary, columns: int = 4) -> str:
    """Category and room-type counts as a plain-text table."""
    rows = ["room types: " + ", ".join(f"{k} {v}" for k, v in summary.room_types.items())]
    items = [f"{k:<16}{v:>5}" for k, v in summary.categories.items()]
    rows.append(f"objects: {sum(summary.categories.values())} in {len(items)} categories")
    for i in range(0, len(items), columns):
        rows.append("  " + "   ".join(items[i:i + columns]))
    rows.append("splits: " + ", ".join(f"{k} {len(v)}" for k, v in summary.splits.items()))
    return "\n".join(rows)
