"""Text -> scene search quality per query kind, before and after the query facts (counts, colours, relations).

    python benchmarks/bm_text_search.py --rooms 300 --seed 5000 --scale 100000   # held-out evaluation rooms
    python benchmarks/bm_text_search.py --rooms 300 --seed 7000 --sweep --scale 100000  # the tuning rooms

``--rooms`` generated object-list rooms (room types cycling, scene seeds ``--seed + i``) are indexed
*without* captions. Three queries per room, made from the room's ground truth:

* ``caption``: its generated scene caption ("A bedroom with 9 objects: two nightstands, ... The bed
  is supporting the picture. ...").
* ``paraphrase``: the same content said another way: 60-100 % of the classes in random order,
  counts as digits or words, class synonyms (the project's ``HAND_SYNONYMS``) half the time, one
  relation as "a cup sitting on a nightstand", and one of five sentence frames.
* ``distinct``: a short human-style description that singles the room out among the indexed ones:
  the room type plus at most three facts (a count, a coloured object, a relation) picked greedily
  until no other room satisfies them all ("a kitchen with three chairs and a red bowl").

Each query is searched with the scorer before the query facts (shortlist 50, embedding + object
evidence), with the facts rescoring the embedding shortlist (shortlist 100, + ``fact_weight`` x the
share of query facts met), and after (+ ``fact_shortlist`` candidates drawn from the fact index),
in the same run. ``--scale`` then grows the index with near-copies of the rooms (embedding plus
noise, facts with 1-3 changes) and measures again. The evaluation rooms (seed 5000, as
``bm_repository.py``) are not used to tune the weight or the candidate count; ``--sweep`` runs the
tuning rooms over several of each.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scene3d.graph import build_scene_graph
from scene3d.language import LanguageConfig, generate_language
from scene3d.language.lexicon import count_phrase, indefinite, plural
from scene3d.language.vocab import HAND_SYNONYMS
from scene3d.repository import SceneIndex
from scene3d.repository.query import NUMBERS, scene_facts
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene

WORDS = {n: w for w, n in NUMBERS.items()}
SYNONYMS = {label: [w for w in group if w != label] for group in HAND_SYNONYMS for label in group}
FRAMES = ("{Room} that has {list}.", "Looking for the {room} with {list}.", "There is {a_room} containing {list}.",
          "{List}, all in {a_room}.", "Find me {a_room}: {list}.")
REL_TEXT = {"on": "sitting on", "next_to": "next to", "under": "under", "above": "above"}


def _name(label: str, n: int, rng: np.random.Generator) -> str:
    word = rng.choice(SYNONYMS[label]) if label in SYNONYMS and rng.random() < 0.5 else label
    number = str(n) if rng.random() < 0.4 else WORDS.get(n, str(n))
    return f"{number} {plural(word) if n > 1 else word}"


def _join(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def paraphrase(room: str, facts: dict, rng: np.random.Generator) -> str:
    counts = [(label, n) for label, n in facts["counts"].items() if label not in ("door", "window")]
    keep = max(1, round(len(counts) * rng.uniform(0.6, 1.0)))
    parts = [_name(label, n, rng) for label, n in (counts[i] for i in rng.permutation(len(counts))[:keep])]
    if facts["relations"]:
        a, g, b = str(rng.choice(facts["relations"])).split("|")
        parts.append(f"{indefinite(a)} {REL_TEXT[g]} {indefinite(b)}")
    frame = str(rng.choice(FRAMES))
    listing = _join(parts)
    return frame.format(Room=room.capitalize(), room=room, a_room=indefinite(room), list=listing,
                        List=listing[0].upper() + listing[1:])


def _fact_text(fact: tuple) -> str:
    kind, *rest = fact
    if kind == "count":
        label, n = rest
        return count_phrase(n, label)
    if kind == "color":
        colour, label = rest
        return indefinite(f"{colour} {label}")
    a, g, b = rest
    return f"{indefinite(a)} {REL_TEXT[g]} {indefinite(b)}"


def _holds(fact: tuple, room: str, facts: dict) -> bool:
    kind, *rest = fact
    if kind == "count":
        return facts["counts"].get(rest[0]) == rest[1]
    if kind == "color":
        return f"{rest[0]} {rest[1]}" in facts["colors"]
    return "|".join(rest) in facts["relations"]


def distinct_query(i: int, rooms: list[tuple[str, dict]], rng: np.random.Generator) -> str:
    """The room type plus at most three facts, picked greedily to rule out the other rooms."""
    room, facts = rooms[i]
    pool = ([("count", label, n) for label, n in facts["counts"].items()]
            + [("color", *c.split(" ", 1)) for c in facts["colors"]]
            + [("rel", *r.split("|")) for r in facts["relations"]])
    pool = [pool[k] for k in rng.permutation(len(pool))]
    alive = [j for j, (r, _) in enumerate(rooms) if r == room and j != i]
    chosen = []
    while alive and pool and len(chosen) < 3:
        best = min(pool, key=lambda f: sum(_holds(f, *rooms[j]) for j in alive))
        pool.remove(best)
        chosen.append(best)
        alive = [j for j in alive if _holds(best, *rooms[j])]
    if not chosen:
        return f"{indefinite(room)}"
    return f"{indefinite(room)} with {_join([_fact_text(f) for f in chosen])}"


def evaluate(index: SceneIndex, queries: dict[str, list[tuple[str, str]]],
             **search) -> dict[str, tuple[float, float, float]]:
    """Per query kind: (recall@1, recall@5, p50 ms)."""
    out = {}
    for kind, pairs in queries.items():
        r1 = r5 = 0
        times = []
        for key, text in pairs:
            t0 = time.perf_counter()
            keys = [h.key for h in index.search_text(text, top_k=5, **search)]
            times.append(time.perf_counter() - t0)
            r1 += bool(keys) and keys[0] == key
            r5 += key in keys
        out[kind] = (r1 / len(pairs), r5 / len(pairs), float(np.median(times)) * 1000)
    return out


def _perturb(facts: dict, rng: np.random.Generator) -> dict:
    """A room's facts with 1-3 changes: a class dropped or its count changed, a colour changed, a relation dropped."""
    counts, colors, relations = dict(facts["counts"]), list(facts["colors"]), list(facts["relations"])
    for _ in range(int(rng.integers(1, 4))):
        change = rng.integers(3)
        if change == 0 and counts:
            label = str(rng.choice(list(counts)))
            counts[label] = max(0, counts[label] + int(rng.choice([-1, 1])))
            if not counts[label]:
                del counts[label]
        elif change == 1 and colors:
            k = int(rng.integers(len(colors)))
            colors[k] = f"{rng.choice(['red', 'blue', 'green', 'white', 'black'])} {colors[k].split(' ', 1)[1]}"
        elif relations:
            relations.pop(int(rng.integers(len(relations))))
    return {"counts": counts, "colors": sorted(set(colors)), "relations": relations}


def _grow(index: SceneIndex, rooms: list[tuple[str, dict]], extra: int, rng: np.random.Generator,
          noise: float = 0.35, chunk: int = 5000) -> None:
    """Add ``extra`` near-copies of the indexed rooms: embedding + Gaussian noise (as bm_repository.py),
    facts with 1-3 changes (:func:`_perturb`), so that the query facts must tell them apart."""
    _, base = index.vectors()
    for start in tqdm(range(0, extra, chunk), desc="near-copies"):
        m = min(chunk, extra - start)
        src = rng.integers(len(base), size=m)
        v = base[src] + noise * rng.normal(size=(m, base.shape[1])) / np.sqrt(base.shape[1])
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        metas = [{"room_type": rooms[k][0], "facts": _perturb(rooms[k][1], rng)} for k in src]
        index.add_descriptors([f"copy{start + k:07d}" for k in range(m)], v, metas=metas)
    index.faiss_index()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--scale", type=int, default=0, help="then grow the index to this many scenes and measure again")
    ap.add_argument("--sweep", action="store_true", help="try several fact weights (the tuning rooms)")
    ap.add_argument("--out", type=Path, default=Path("runs/bm_text_search"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    shutil.rmtree(args.out, ignore_errors=True)
    cfg = SynthConfig(num_points=500, min_object_points=1, num_frames=0)
    index = SceneIndex(args.out / "index")
    rng = np.random.default_rng(args.seed)
    rooms, queries = [], {"caption": [], "paraphrase": [], "distinct": []}
    for i in tqdm(range(args.rooms), desc="rooms"):
        s = generate_scene(f"r{i:05d}", args.seed + i, ROOM_TYPES[i % len(ROOM_TYPES)], cfg)
        index.add(s)
        utts = generate_language(build_scene_graph(s), seed=i, config=LanguageConfig(per_target=1))
        queries["caption"].append((s.scene_id, next(u.text for u in utts if u.kind == "scene_caption")))
        facts = scene_facts(s)
        queries["paraphrase"].append((s.scene_id, paraphrase(s.meta.room_type, facts, rng)))
        rooms.append((s.meta.room_type, facts))
    queries["distinct"] = [(f"r{i:05d}", distinct_query(i, rooms, rng)) for i in range(args.rooms)]
    for kind, pairs in queries.items():
        print(f"e.g. {kind}: {pairs[1][1]!r}")
    settings = {"before (shortlist 50, no facts)": {"shortlist": 50, "fact_weight": 0.0},
                "facts rescore the shortlist (shortlist 100, fact weight 1)":
                    {"shortlist": 100, "fact_weight": 1.0, "fact_shortlist": 0},
                "after (+ 100 candidates from the fact index)":
                    {"shortlist": 100, "fact_weight": 1.0, "fact_shortlist": 100}}
    if args.sweep:
        settings.update({f"fact weight {w}": {"shortlist": 100, "fact_weight": w, "fact_shortlist": 100}
                         for w in (0.25, 0.5, 2.0, 4.0)})
        settings.update({f"fact candidates {c}": {"shortlist": 100, "fact_weight": 1.0, "fact_shortlist": c}
                         for c in (25, 50, 200)})
    n = args.rooms
    print(f"{n} rooms (seeds {args.seed}..{args.seed + n - 1}), chance recall@1 {1 / n:.1%}, @5 {5 / n:.1%}")
    print("| scorer | " + " | ".join(f"{k} R@1 / R@5" for k in queries) + " | p50 ms |")
    print("|---|" + "---:|" * (len(queries) + 1))
    for name, search in settings.items():
        res = evaluate(index, queries, **search)
        cells = " | ".join(f"{r1:.1%} / {r5:.1%}" for r1, r5, _ in res.values())
        print(f"| {name} | {cells} | {np.median([t for *_, t in res.values()]):.1f} |")
    if args.scale > n:
        _grow(index, rooms, args.scale - n, rng)
        t0 = time.perf_counter()
        index.fact_index()
        print(f"at {len(index):,} scenes ({n} rooms + {len(index) - n:,} near-copies: a room's embedding plus "
              f"noise, its facts with 1-3 changes); fact index built in {time.perf_counter() - t0:.1f} s")
        for name, search in settings.items():
            res = evaluate(index, queries, **search)
            cells = " | ".join(f"{r1:.1%} / {r5:.1%}" for r1, r5, _ in res.values())
            print(f"| {name} | {cells} | {np.median([t for *_, t in res.values()]):.1f} |")


if __name__ == "__main__":
    main()
