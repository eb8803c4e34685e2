"""Object captions (class, attributes, one or two relations) and scene captions
(room type, main objects and counts, a few layout facts)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.lexicon import RELATION_PHRASES, copula, count_phrase, indefinite, number, units
from scene3d.language.program import relation_matrix
from scene3d.language.realize import MATERIAL_ADJ
from scene3d.language.vocab import DEFAULT_VOCABULARY, Vocabulary

#: Relations that make good caption facts, most telling first.
CAPTION_RELATIONS = ("on", "supporting", "mounted_on", "next_to", "between", "near", "above", "below")


def _the(graph: SceneGraph, j: int, i: int | None = None) -> str:
    """Anchor ``j`` as seen from object ``i``: 'the bed' for a unique class, else 'a chair' /
    'an armchair' / 'some books'; of ``i``'s own class 'the other chair' (two) / 'another chair'."""
    label = graph.objects.labels[j]
    count = graph.label_count(label)
    if i is not None and graph.objects.labels[i] == label:
        return f"the other {label}" if count == 2 else f"another {label}" if number(label) == "singular" \
            else f"other {label}"
    return "the " + label if count == 1 else indefinite(label)


def object_facts(graph: SceneGraph, i: int, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> list[tuple[str, list[int], str]]:
    """(relation, anchor rows, phrase) facts about object row ``i``, in caption order: per
    relation of :data:`CAPTION_RELATIONS`, its first anchor.

    Anchors are informative objects only: the floor, walls and ceiling (room structure) and
    uninformative labels ("object") never make a fact ("a door on the floor" says nothing).
    The facts of all objects are found at once and cached on the graph.
    """
    cache = graph.__dict__.setdefault("_caption_facts", {})
    if vocabulary not in cache:
        cache[vocabulary] = _all_facts(graph, vocabulary)
    return cache[vocabulary].get(i, [])


def _all_facts(graph: SceneGraph, vocabulary: Vocabulary) -> dict[int, list[tuple[str, list[int], str]]]:
    t = graph.objects
    ok = ~t.structure & graph.label_flags(vocabulary.informative)
    facts: dict[int, list[tuple[str, list[int], str]]] = {}
    for rel in CAPTION_RELATIONS:
        if rel == "between":
            rows = graph.relations.between
            rows = rows[ok[rows[:, 0]] & ok[rows[:, 1]] & ok[rows[:, 2]]] if len(rows) else rows
            _, first = np.unique(rows[:, 0], return_index=True)
            hits = [(int(i), [int(a), int(b)]) for i, a, b in rows[first]]
        else:
            m = relation_matrix(graph, rel) & ok[None] & ok[:, None]
            has = np.flatnonzero(m.any(axis=1))
            hits = [(int(i), [int(j)]) for i, j in zip(has, m[has].argmax(axis=1))]
        for i, anchors in hits:
            if rel != "between":
                phrase = RELATION_PHRASES[rel][0].format(a=_the(graph, anchors[0], i))
            elif t.labels[anchors[0]] == t.labels[anchors[1]]:
                phrase = RELATION_PHRASES["between_same"][0].format(p=units(t.labels[anchors[0]]))
            else:
                phrase = RELATION_PHRASES["between"][0].format(a=_the(graph, anchors[0], i), b=_the(graph, anchors[1], i))
            facts.setdefault(i, []).append((rel, anchors, phrase))
    return facts


def object_caption(graph: SceneGraph, i: int, rng: np.random.Generator,
                   vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> tuple[str, list[int]]:
    """'A tall brown wooden chair next to the desk and near the window.' and the anchor rows it mentions."""
    t, r = graph.objects, graph.relations
    size = r.size_word[i] or (r.size_class[i] if r.size_class[i] != "medium" and rng.random() < 0.3 else None)
    words = [w for w in (size, t.color_names[i], MATERIAL_ADJ.get(t.materials[i] or "", None)) if w]
    head = indefinite(" ".join(words + [t.labels[i]]))
    facts = object_facts(graph, i, vocabulary)
    if facts:
        k = min(len(facts), int(rng.integers(1, 3)))
        picked = [facts[j] for j in sorted(rng.choice(len(facts), k, replace=False))]
        text = head + " " + " and ".join(p for _, _, p in picked) + "."
        anchors = [a for _, rows, _ in picked for a in rows]
    else:
        text, anchors = head + ".", []
    return text[0].upper() + text[1:], anchors


def scene_caption(graph: SceneGraph, rng: np.random.Generator, max_facts: int = 3,
                  vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """'A bedroom with 14 objects: one bed, two nightstands, ... The lamp is on the nightstand. ...'"""
    t = graph.objects
    named = graph.label_flags(vocabulary.informative)
    counts = Counter(label for label, s, ok in zip(t.labels, t.structure, named)
                     if ok and not s and label not in ("door", "window"))
    room = graph.room_type or "room"
    parts = [count_phrase(n, label) for label, n in counts.most_common()]
    listing = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "nothing in it"
    text = f"{indefinite(room).capitalize()} with {sum(counts.values())} objects: {listing}."
    openings = Counter(label for label in t.labels if label in ("door", "window"))
    if openings:
        text += " It has " + " and ".join(count_phrase(n, k) for k, n in sorted(openings.items())) + "."
    big = np.argsort(-np.prod(t.size, axis=1))
    facts: list[str] = []
    told: set[frozenset[int]] = set()       # each pair of objects once ("the jacket is on the seat" or its inverse)
    for i in big:
        if t.structure[i] or not named[i] or t.labels[i] in ("door", "window"):
            continue
        for rel, rows, phrase in object_facts(graph, int(i), vocabulary):
            pair = frozenset((int(i), *rows))
            subject = _the(graph, int(i))
            fact = f"{subject[0].upper() + subject[1:]} {copula(t.labels[i])} {phrase}."
            if rel in ("on", "next_to", "supporting") and pair not in told and fact not in facts:
                told.add(pair)
                facts.append(fact)
                break
        if len(facts) >= max_facts:
            break
    return " ".join([text] + facts)
