"""Programs -> English sentences (templates with a varied lexicon).

Class names may be replaced by a synonym from the scene's allowed names
(:meth:`scene3d.language.vocab.Vocabulary.scene_names`), which never collide with
another class of the scene, so the sentence keeps the program's meaning.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.lexicon import CONNECTORS, FRAMES, RELATION_PHRASES, indefinite, number, units
from scene3d.language.program import ObjectRef, evaluate

MATERIAL_ADJ = {"wood": "wooden", "metal": "metal", "fabric": "fabric", "leather": "leather",
                "plastic": "plastic", "glass": "glass", "ceramic": "ceramic", "marble": "marble",
                "paper": "paper"}

_CLAUSE_WORDS = {"with", "that", "supporting", "holding", "containing"}
_PARTICIPLES = {"lying", "sitting", "resting", "placed", "hanging", "mounted", "built", "embedded",
                "attached", "located", "closer", "farther", "higher", "not"}
#: Relations whose clause reads well before the sentence ("next to the bed, find the lamp");
#: closest / farthest / far and the "with ..." relations only read well after the noun.
FRONTABLE = frozenset({"on", "inside", "above", "below", "mounted_on", "near", "next_to", "front_of", "behind",
                       "left_of", "right_of", "ego_left", "ego_right", "ego_front", "ego_behind", "between",
                       "middle"})


def _pick(rng: np.random.Generator, options) -> str:
    """One of ``options`` (a tuple of strings), uniformly."""
    return options[int(rng.integers(len(options)))]


def noun_phrase(ref: ObjectRef, rng: np.random.Generator | None = None,
                names: Mapping[str, tuple[str, ...]] | None = None, synonym_rate: float = 0.0) -> str:
    """'largest red wooden chair' (superlative, size word, colour, material, class or a synonym).

    Args:
        names: label -> synonyms allowed in this scene; None = the label only.
        synonym_rate: probability of naming the class by one of its synonyms.
    """
    attrs = dict(ref.attributes)
    words = [attrs[k] for k in ("superlative", "size_word", "color") if k in attrs]
    if "material" in attrs:
        words.append(MATERIAL_ADJ.get(attrs["material"], attrs["material"]))
    label = ref.label
    options = names.get(label, ()) if names is not None and rng is not None else ()
    if options and rng.random() < synonym_rate:
        label = _pick(rng, options)
    return " ".join(words + [label])


class _Speaker:
    """One sentence's choices: the rng, the scene's names and how often to use them."""

    def __init__(self, graph: SceneGraph, rng: np.random.Generator, names: Mapping[str, tuple[str, ...]] | None,
                 synonym_rate: float):
        self.graph, self.rng, self.names, self.rate = graph, rng, names, synonym_rate

    def np(self, ref: ObjectRef) -> str:
        return noun_phrase(ref, self.rng, self.names, self.rate)

    def anchor(self, anchor: ObjectRef) -> str:
        """'the table' when the anchor is unique, else 'a table' / 'one of the tables' / 'some books'."""
        head, rest = self.np(anchor), self.clause(anchor)
        if int(evaluate(anchor, self.graph).sum()) == 1:
            return "the " + head + rest
        if anchor.clause is None and self.rng.random() < 0.5:
            return "one of the " + units(head)
        return indefinite(head) + rest

    def ref(self, ref: ObjectRef) -> str:
        """The referral without its article: 'chair that is near the table'."""
        return self.np(ref) + self.clause(ref)

    def clause(self, ref: ObjectRef) -> str:
        """' that is near the table' (with its connector), or '' without a clause."""
        if ref.clause is None:
            return ""
        phrase = self.relation(ref)
        first = phrase.split(" ", 1)[0]
        if first in _CLAUSE_WORDS:          # "with the cup on it", "supporting the lamp"
            connector = " "
        elif first in _PARTICIPLES:         # "sitting on", "hanging on": no "located"
            connector = _pick(self.rng, CONNECTORS[:3])
        else:
            connector = _pick(self.rng, CONNECTORS)
        if number(ref.label) == "plural":
            connector = connector.replace(" is ", " are ")
        return connector + phrase

    def relation(self, ref: ObjectRef, front: bool = False) -> str:
        """The clause of ``ref`` as a phrase: 'on top of the table', 'between the two chairs'.
        ``front``: only phrases that open a sentence well (no participles, no "with")."""
        clause = ref.clause
        assert clause is not None
        key = clause.relation
        if key == "between" and clause.anchors[0] == clause.anchors[1]:
            key = "between_same"
        options = RELATION_PHRASES[key]
        if front:
            options = tuple(p for p in options if p.split(" ", 1)[0] not in _PARTICIPLES | _CLAUSE_WORDS) or options
        template = _pick(self.rng, options)
        if key == "middle":
            return template
        if key == "between_same":
            return template.format(p=units(self.np(clause.anchors[0])))
        if key == "between":
            a, b = clause.anchors
            return template.format(a=self.anchor(a), b=self.anchor(b))
        return template.format(a=self.anchor(clause.anchors[0]))


def realize(ref: ObjectRef, graph: SceneGraph, rng: np.random.Generator, *,
            names: Mapping[str, tuple[str, ...]] | None = None, synonym_rate: float = 0.0,
            front_clause: bool = False) -> str:
    """A full sentence for ``ref``.

    Args:
        ref: the program.
        graph: its scene graph (decides 'the' vs 'a' for anchors).
        rng: word choices.
        names: label -> synonyms allowed in this scene (``Vocabulary.scene_names``); None = labels only.
        synonym_rate: probability of naming a class by a synonym.
        front_clause: put the relation first ('on the table, find the cup') when it reads well
            (relations in :data:`FRONTABLE`); else the plain order.
    """
    speaker = _Speaker(graph, rng, names, synonym_rate)
    if front_clause and ref.clause is not None and ref.clause.relation in FRONTABLE:
        head = "the " + speaker.np(ref)
        return speaker.relation(ref, front=True) + ", " + _pick(rng, FRAMES[2:6]).format(r=head)
    body = "the " + speaker.ref(ref)
    frame = _pick(rng, FRAMES)
    if frame.startswith("it is") and number(ref.label) == "plural":
        frame = "they are {r}"
    return frame.format(r=body)
