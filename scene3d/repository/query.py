"""What a text query says about a scene, checked against what the index knows of each scene.

A sentence embedding hears "a bedroom with two lamps" and "a bedroom with five lamps" as nearly the
same (MiniLM's sense of counts is weak). So the query is also read as **facts**: the room type, a
count or the presence of a class ("two lamps", "a bed", "3 chairs"), a coloured object ("a red
chair"), and a relation between two classes ("a cup on the nightstand", "a plant next to the
window", "a nightstand supporting a vase"). Each scene's facts (its label counts, coloured labels and
relation triples from its scene graph) are stored at indexing (:func:`scene_facts`), and
:func:`fact_score` gives the share of the query's facts a scene satisfies, which
``SceneIndex.search_text`` adds to the embedding score. The same score is a weighted sum over
tokens (:func:`scene_tokens`, :func:`query_weights`), which is how the index's inverted fact
index scores every scene at once to draw candidates the embedding shortlist misses.

Class names are matched with their plurals and the synonyms of
:data:`scene3d.language.vocab.HAND_SYNONYMS` ("fridge" = "refrigerator", "bedside tables" =
"nightstands").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from scene3d.colors import NAMED_COLORS
from scene3d.language.lexicon import plural
from scene3d.language.vocab import HAND_SYNONYMS
from scene3d.repository.embed import STRUCTURE
from scene3d.structures import Scene

NUMBERS = {w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                        "nine", "ten", "eleven", "twelve"))}
ROOM_NAMES = {"bedroom": "bedroom", "bed room": "bedroom", "living room": "living room", "lounge": "living room",
              "kitchen": "kitchen", "office": "office", "study": "office", "bathroom": "bathroom",
              "washroom": "bathroom", "dining room": "dining room"}

#: Relation groups a query can name, with their phrases; a scene's graph relations map onto the groups.
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "on": ("on top of", "sitting on", "lying on", "resting on", "placed on", "standing on", "hanging on",
           "mounted on", "on"),
    "under": ("underneath", "beneath", "below", "under"),
    "above": ("above", "over"),
    "next_to": ("right next to", "next to", "beside", "close to", "near", "by", "adjacent to"),
}
INVERSE_WORDS = ("supporting", "holding", "carrying")  # "A supporting B" = "B on A"
GRAPH_GROUPS = {"on": "on", "mounted_on": "on", "below": "under", "above": "above", "next_to": "next_to",
                "near": "next_to"}


@dataclass
class QueryFacts:
    """What a query asks of a scene.

    room: a room type or None; counts: label -> exact count; present: labels asked for without a count
    ("a bed", "some books": at least one); colors: (colour, label) pairs; relations: (label, group, label)
    triples, group one of :data:`RELATION_WORDS` ("cup", "on", "nightstand")."""

    room: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    colors: set[tuple[str, str]] = field(default_factory=set)
    relations: set[tuple[str, str, str]] = field(default_factory=set)

    def __len__(self) -> int:
        return (int(self.room is not None) + len(self.counts) + len(self.present) + len(self.colors)
                + len(self.relations))


def scene_facts(scene: Scene) -> dict:
    """The facts of a scene that queries are checked against, JSON-able: ``counts`` {label: n},
    ``colors`` ["red chair", ...], ``relations`` ["cup|on|nightstand", ...] (walls, floor and ceiling
    left out; relations from :func:`scene3d.graph.build_scene_graph`, grouped as :data:`GRAPH_GROUPS`)."""
    from scene3d.graph import build_scene_graph

    objects = [o for o in scene.objects if o.label not in STRUCTURE]
    label_of = {o.object_id: o.label for o in objects}
    triples = set()
    if len(objects) > 1:
        graph = build_scene_graph(scene)
        for rel, group in GRAPH_GROUPS.items():
            if rel in graph.relation_names():
                triples |= {f"{label_of[a]}|{group}|{label_of[b]}" for a, b in graph.edges(rel)
                            if a in label_of and b in label_of}
    return {"counts": dict(Counter(o.label for o in objects)),
            "colors": sorted({f"{o.color_name} {o.label}" for o in objects if o.color_name}),
            "relations": sorted(triples)}


@lru_cache(maxsize=8)
def _name_pattern(labels: frozenset[str]) -> tuple[re.Pattern, dict[str, str]]:
    """A regex of every way to name the labels (synonyms, plurals), longest first, and name -> label."""
    names: dict[str, str] = {}
    groups = {label: {label} for label in labels}
    for group in HAND_SYNONYMS:
        for label in labels & set(group):
            groups[label] |= set(group)
    for label, words in groups.items():
        for w in words:
            names.setdefault(w, label)
            names.setdefault(plural(w), label)
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b"), names


_COLOUR = "|".join(NAMED_COLORS)
_COUNT = "|".join([*NUMBERS, r"\d+", "an?", "the", "some", "several", "many", "another"])
_JOIN = re.compile(r"^(?:\s*(?:,|and|with|that|which|is|are|sits|sit|stands|stand|lies|lie|hangs|hang|placed|"
                   r"there|it|has|have|a|an|the|one|some|its|of|\d+|" + "|".join(NUMBERS) + "|" + _COLOUR + r"))*\s*")


def _relation(between: str) -> tuple[str, bool] | None:
    """The relation group named by the words between two class mentions, and whether it is inverted
    ("A supporting B"); None when they name none."""
    words = _JOIN.sub("", between.strip()).strip(" ,.")
    words = re.sub(r"\s+(?:a|an|the|one|two|some|" + _COLOUR + r")$", "", words)
    if words in INVERSE_WORDS or words in ("with", "that has", "which has"):
        return ("on", True) if words in INVERSE_WORDS else None
    for group, phrases in RELATION_WORDS.items():
        if words in phrases:
            return group, False
    return None


def parse_query(text: str, labels: frozenset[str]) -> QueryFacts:
    """The facts of a query, for classes among ``labels`` (the index's labels)."""
    text = " ".join(text.lower().replace("-", " ").split())
    facts = QueryFacts(room=next((room for name, room in sorted(ROOM_NAMES.items(), key=lambda kv: -len(kv[0]))
                                  if re.search(rf"\b{name}\b", text)), None))
    if not labels:
        return facts
    pattern, names = _name_pattern(labels)
    mentions = []  # (start, end, label, count or None)
    for m in pattern.finditer(text):
        label = names[m.group(1)]
        if facts.room is not None and label == "bed" and text[m.start():].startswith("bedroom"):
            continue
        before = text[:m.start()].split()
        colour = before[-1] if before and before[-1] in NAMED_COLORS else None
        word = before[-2 if colour else -1] if len(before) >= (2 if colour else 1) else ""
        count = NUMBERS.get(word, int(word) if word.isdigit() else None)
        if count is not None and count > 0:
            facts.counts[label] = count
        elif label not in facts.counts:
            facts.present.add(label)
        if colour:
            facts.colors.add((colour, label))
        mentions.append((m.start(), m.end(), label))
    facts.present -= set(facts.counts)
    for (_, end, a), (start, _, b) in pairwise(mentions):
        found = _relation(text[end:start])
        if found is not None:
            group, inverted = found
            facts.relations.add((b, group, a) if inverted else (a, group, b))
    return facts


def scene_tokens(facts: dict, room_type: str | None) -> set[str]:
    """A scene's facts as the tokens of the fact index: ``room:<type>``, ``has:<label>``,
    ``n:<label>=<count>``, ``color:<colour> <label>`` and ``rel:<label>|<group>|<label>``.

    Args:
        facts: the scene's :func:`scene_facts`.
        room_type: the scene's room type (None: no room token).
    """
    counts = facts.get("counts", {})
    tokens = {f"has:{label}" for label, n in counts.items() if n}
    tokens |= {f"n:{label}={n}" for label, n in counts.items() if n}
    tokens |= {f"color:{c}" for c in facts.get("colors", ())}
    tokens |= {f"rel:{r}" for r in facts.get("relations", ())}
    if room_type:
        tokens.add(f"room:{room_type}")
    return tokens


def query_weights(query: QueryFacts) -> dict[str, float]:
    """The query's facts as weighted :func:`scene_tokens`: a scene's :func:`fact_score` is the sum of
    the weights of the tokens it has, over ``len(query)``.

    A count weighs 0.7 on its exact count and 0.3 on the class being there, so that a scene with the
    class in another number scores 0.3; a colour likewise (0.7 on the coloured class, 0.3 on the
    class); a room type, a presence and a relation 1 on their token."""
    weights: dict[str, float] = {}

    def put(token: str, w: float) -> None:
        weights[token] = weights.get(token, 0.0) + w

    if query.room is not None:
        put(f"room:{query.room}", 1.0)
    for label, n in query.counts.items():
        put(f"n:{label}={n}", 0.7)
        put(f"has:{label}", 0.3)
    for label in query.present:
        put(f"has:{label}", 1.0)
    for colour, label in query.colors:
        put(f"color:{colour} {label}", 0.7)
        put(f"has:{label}", 0.3)
    for a, g, b in query.relations:
        put(f"rel:{a}|{g}|{b}", 1.0)
    return weights


def fact_score(query: QueryFacts, facts: dict, room_type: str | None) -> float:
    """The share of the query's facts that a scene satisfies, in [0, 1] (0 when the query states none).

    A count scores 1 when equal, 0.3 when the class is there in another number; a colour 1 when an
    object of that class has it, 0.3 when the class is there in another colour; a room type, a
    presence and a relation 1 or 0 (the weights of :func:`query_weights`).

    Args:
        query: :func:`parse_query`'s facts.
        facts: the scene's :func:`scene_facts`.
        room_type: the scene's room type.
    """
    if not len(query):
        return 0.0
    tokens = scene_tokens(facts, room_type)
    return sum(w for token, w in query_weights(query).items() if token in tokens) / len(query)
