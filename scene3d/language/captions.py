"""Object captions (class, attributes, one or two relations) and scene captions
(room type, main objects and counts, a few layout facts)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.lexicon import RELATION_PHRASES, count_phrase, indefinite
from scene3d.language.program import relation_matrix
from scene3d.language.realize import _MATERIAL_ADJ

#: Relations that make good caption facts, most telling first.
CAPTION_RELATIONS = ("on", "supporting", "mounted_on", "next_to", "between", "near", "above", "below")


def _the(graph: SceneGraph, j: int) -> str:
    """'the bed' for a unique class, else 'a chair' / 'an armchair'."""
    label = graph.objects.labels[j]
    return "the " + label if graph.objects.labels.count(label) == 1 else indefinite(label)


def object_facts(graph: SceneGraph, i: int) -> list[tuple[str, list[int], str]]:
    """(relation, anchor rows, phrase) facts about object row ``i``, in caption order."""
    facts = []
    for rel in CAPTION_RELATIONS:
        if rel == "between":
            rows = graph.relations.between
            hit = rows[rows[:, 0] == i] if len(rows) else rows
            if len(hit):
                a, b = int(hit[0, 1]), int(hit[0, 2])
                facts.append((rel, [a, b], RELATION_PHRASES["between"][0].format(a=_the(graph, a), b=_the(graph, b))))
            continue
        anchors = np.flatnonzero(relation_matrix(graph, rel)[i])
        anchors = [int(j) for j in anchors if graph.objects.labels[j] not in ("ceiling",)]
        if anchors:
            facts.append((rel, anchors[:1], RELATION_PHRASES[rel][0].format(a=_the(graph, anchors[0]))))
    return facts


def object_caption(graph: SceneGraph, i: int, rng: np.random.Generator) -> tuple[str, list[int]]:
    """'A red wooden chair next to the desk and near the window.' and the anchor rows it mentions."""
    t = graph.objects
    words = [w for w in (graph.relations.size_class[i] if rng.random() < 0.3 else None, t.color_names[i],
                         _MATERIAL_ADJ.get(t.materials[i] or "", None)) if w]
    head = indefinite(" ".join(words + [t.labels[i]]))
    facts = object_facts(graph, i)
    if facts:
        k = min(len(facts), int(rng.integers(1, 3)))
        picked = [facts[j] for j in sorted(rng.choice(len(facts), k, replace=False))]
        text = head + " " + " and ".join(p for _, _, p in picked) + "."
        anchors = [a for _, rows, _ in picked for a in rows]
    else:
        text, anchors = head + ".", []
    return text[0].upper() + text[1:], anchors


def scene_caption(graph: SceneGraph, rng: np.random.Generator, max_facts: int = 3) -> str:
    """'A bedroom with 14 objects: one bed, two nightstands, ... The lamp is on the nightstand. ...'"""
    t = graph.objects
    counts = Counter(label for label, s in zip(t.labels, t.structure) if not s and label not in ("door", "window"))
    room = graph.room_type or "room"
    parts = [count_phrase(n, label) for label, n in counts.most_common()]
    listing = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "nothing in it"
    text = f"{indefinite(room).capitalize()} with {sum(counts.values())} objects: {listing}."
    openings = Counter(label for label in t.labels if label in ("door", "window"))
    if openings:
        text += " It has " + " and ".join(count_phrase(n, k) for k, n in sorted(openings.items())) + "."
    big = np.argsort(-np.prod(t.size, axis=1))
    facts = []
    for i in big:
        if t.structure[i] or t.labels[i] in ("door", "window"):
            continue
        for rel, _, phrase in object_facts(graph, int(i)):
            if rel in ("on", "next_to", "supporting") and "floor" not in phrase:
                facts.append(f"{_the(graph, int(i)).capitalize()} is {phrase}.")
                break
        if len(facts) >= max_facts:
            break
    return " ".join([text] + facts)
