"""Programs -> English sentences (templates with a varied lexicon)."""

from __future__ import annotations

import numpy as np

from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.lexicon import CONNECTORS, FRAMES, RELATION_PHRASES, indefinite, plural
from scene3d.language.program import ObjectRef, evaluate

_MATERIAL_ADJ = {"wood": "wooden", "metal": "metal", "fabric": "fabric", "leather": "leather",
                 "plastic": "plastic", "glass": "glass", "ceramic": "ceramic", "marble": "marble",
                 "paper": "paper"}

#: Class synonyms the paraphrase stage may use (meaning-preserving).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "sofa": ("couch",), "tv": ("television", "tv screen"), "refrigerator": ("fridge",),
    "trash can": ("trash bin", "garbage can", "bin"), "cup": ("mug",), "picture": ("painting", "framed picture"),
    "nightstand": ("bedside table", "night stand"), "plant": ("potted plant",), "bookshelf": ("book shelf", "shelf unit"),
    "dining table": ("table",), "coffee table": ("low table",), "office chair": ("desk chair", "swivel chair"),
    "kitchen counter": ("counter", "countertop"), "floor lamp": ("standing lamp",), "monitor": ("computer screen",),
    "wardrobe": ("closet",), "dresser": ("chest of drawers",), "rug": ("carpet",), "armchair": ("easy chair",),
    "stool": ("bar stool",), "lamp": ("table lamp",), "clock": ("wall clock",), "box": ("carton",),
}


def _pick(rng: np.random.Generator, options) -> str:
    """One of ``options`` (a tuple of strings), uniformly."""
    return options[int(rng.integers(len(options)))]


_CLAUSE_WORDS = {"with", "that", "supporting", "holding", "containing"}
_PARTICIPLES = {"lying", "sitting", "resting", "placed", "hanging", "mounted", "built", "embedded",
                "attached", "located", "closer", "farther", "higher", "not"}


def noun_phrase(ref: ObjectRef, rng: np.random.Generator | None = None, synonyms: bool = False) -> str:
    """'largest red wooden chair' (superlative/size, colour, material, class)."""
    words = []
    attrs = dict(ref.attributes)
    if "superlative" in attrs:
        words.append(attrs["superlative"])
    if "size" in attrs:
        words.append(attrs["size"])
    if "color" in attrs:
        words.append(attrs["color"])
    if "material" in attrs:
        words.append(_MATERIAL_ADJ.get(attrs["material"], attrs["material"]))
    label = ref.label
    if synonyms and rng is not None and label in SYNONYMS and rng.random() < 0.5:
        label = _pick(rng, SYNONYMS[label])
    return " ".join(words + [label])


def _anchor_text(anchor: ObjectRef, graph: SceneGraph, rng: np.random.Generator, synonyms: bool) -> str:
    """'the table' when the anchor is unique, else 'a table' / 'one of the tables'."""
    inner = _ref_text(anchor, graph, rng, synonyms)
    if int(evaluate(anchor, graph).sum()) == 1:
        return "the " + inner
    if anchor.clause is None and rng.random() < 0.5:
        return "one of the " + plural(noun_phrase(anchor, rng, synonyms))
    return indefinite(inner)


def _ref_text(ref: ObjectRef, graph: SceneGraph, rng: np.random.Generator, synonyms: bool) -> str:
    """The referral without its article: 'chair that is near the table'."""
    np_ = noun_phrase(ref, rng, synonyms)
    clause = ref.clause
    if clause is None:
        return np_
    phrase = relation_text(ref, graph, rng, synonyms)
    first = phrase.split(" ", 1)[0]
    if first in _CLAUSE_WORDS:          # "with the cup on it", "supporting the lamp"
        connector = " "
    elif first in _PARTICIPLES:         # "sitting on", "hanging on": no "located"
        connector = _pick(rng, CONNECTORS[:3])
    else:
        connector = _pick(rng, CONNECTORS)
    return np_ + connector + phrase


def relation_text(ref: ObjectRef, graph: SceneGraph, rng: np.random.Generator, synonyms: bool = False) -> str:
    """The clause of ``ref`` as a phrase: 'on top of the table', 'between the two chairs'."""
    clause = ref.clause
    assert clause is not None
    if clause.relation == "middle":
        return _pick(rng, RELATION_PHRASES["middle"])
    if clause.relation == "between":
        a, b = clause.anchors
        if a == b:
            return _pick(rng, RELATION_PHRASES["between_same"]).format(p=plural(noun_phrase(a, rng, synonyms)))
        return _pick(rng, RELATION_PHRASES["between"]).format(
            a=_anchor_text(a, graph, rng, synonyms), b=_anchor_text(b, graph, rng, synonyms))
    return _pick(rng, RELATION_PHRASES[clause.relation]).format(a=_anchor_text(clause.anchors[0], graph, rng, synonyms))


def realize(ref: ObjectRef, graph: SceneGraph, rng: np.random.Generator, *, synonyms: bool = False,
            front_clause: bool = False) -> str:
    """A full sentence for ``ref``.

    Args:
        ref: the program.
        graph: its scene graph (decides 'the' vs 'a' for anchors).
        rng: word choices.
        synonyms: use class synonyms (the paraphrase stage).
        front_clause: put the relation first ('on the table, find the cup').
    """
    if front_clause and ref.clause is not None:
        head = "the " + noun_phrase(ref, rng, synonyms)
        return relation_text(ref, graph, rng, synonyms) + ", " + _pick(rng, FRAMES[2:6]).format(r=head)
    return _pick(rng, FRAMES).format(r="the " + _ref_text(ref, graph, rng, synonyms))
