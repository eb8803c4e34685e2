"""Referral programs: the meaning of a referring expression, evaluable on a SceneGraph.

A program is an :class:`ObjectRef`: a class, attribute filters and at most one
relation clause whose anchors are themselves ObjectRefs (so clauses chain:
"the cup on the table near the window"). Its meaning is the set of objects
that satisfy it; a referral is valid when that set is exactly its target.

Semantics (what :func:`evaluate` computes):

* ``label``: the object's class equals it.
* ``attributes``: ``("color", name)``, ``("material", name)``, ``("size_word", "tall"|"low"|...)``
  (relative to the object's class, ``Relations.size_word``),
  ``("superlative", "largest"|"smallest"|"tallest"|"lowest")`` (within its class).
* clause ``(relation, (anchor,))``: some object matching ``anchor`` (other than the
  object itself) stands in ``relation`` to it, where ``relation`` is a pair relation
  of the graph or an inverse name ("supporting" = the anchor is on it).
* clause ``("between", (a, b))``: some (x, y), x != y, x matches a, y matches b, has the
  object between them.
* clause ``("middle", ())``: the object is in the middle of the room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene3d.graph.relations import INVERSE
from scene3d.graph.scene_graph import SceneGraph

_INVERSE_OF = {v: k for k, v in INVERSE.items()}


@dataclass(frozen=True)
class RelationClause:
    """``relation`` with its anchors (2 for between, 0 for middle, else 1)."""

    relation: str
    anchors: tuple[ObjectRef, ...] = ()


@dataclass(frozen=True)
class ObjectRef:
    """'the [attributes] <label> [clause]'."""

    label: str
    attributes: tuple[tuple[str, str], ...] = ()
    clause: RelationClause | None = None

    def anchor_refs(self) -> list[ObjectRef]:
        """Every anchor mentioned, depth first."""
        if self.clause is None:
            return []
        out = []
        for a in self.clause.anchors:
            out.append(a)
            out.extend(a.anchor_refs())
        return out


def relation_matrix(graph: SceneGraph, relation: str) -> np.ndarray:
    """(N, N) bool, ``[i, j]`` = "i relation j", for a pair relation or an inverse name."""
    pair = graph.relations.pair
    if relation in pair:
        return pair[relation]
    if relation in _INVERSE_OF and _INVERSE_OF[relation] in pair:
        return pair[_INVERSE_OF[relation]].T
    raise KeyError(f"unknown relation {relation!r}")


def _attribute_mask(graph: SceneGraph, key: str, value: str) -> np.ndarray:
    t, r = graph.objects, graph.relations
    if key == "color":
        return np.array([c == value for c in t.color_names], dtype=bool)
    if key == "material":
        return np.array([m == value for m in t.materials], dtype=bool)
    if key == "size_word":
        return np.array([s == value for s in r.size_word], dtype=bool)
    if key == "superlative":
        return r.superlative[value].copy()
    raise KeyError(f"unknown attribute {key!r}")


def evaluate(ref: ObjectRef, graph: SceneGraph) -> np.ndarray:
    """(N,) bool: the objects that ``ref`` describes (rows of the graph's object table)."""
    t = graph.objects
    mask = graph.label_mask(ref.label)
    for key, value in ref.attributes:
        mask &= _attribute_mask(graph, key, value)
    clause = ref.clause
    if clause is None or not mask.any():
        return mask
    if clause.relation == "middle":
        return mask & graph.relations.middle
    anchors = [evaluate(a, graph) for a in clause.anchors]
    n = len(t)
    if clause.relation == "between":
        a_mask, b_mask = anchors
        hit = np.zeros(n, dtype=bool)
        trip = graph.relations.between
        if len(trip):
            ok = (a_mask[trip[:, 1]] & b_mask[trip[:, 2]]) | (a_mask[trip[:, 2]] & b_mask[trip[:, 1]])
            hit[trip[ok, 0]] = True
        return mask & hit
    rel = relation_matrix(graph, clause.relation)
    via = rel[:, anchors[0]]
    return mask & via.any(axis=1)
