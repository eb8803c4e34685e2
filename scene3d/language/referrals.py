"""Find unique referring expressions for the objects of a scene graph.

Candidates are counted for all targets at once with boolean matrix products
(``(class one-hot)^T @ (relation to some object of class c)``): a program is
unique when exactly one object satisfies it. Every emitted program is then
re-checked with the general evaluator, so the output is unique by
construction and by check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scene3d.graph.relations import EGOCENTRIC, SUPERLATIVES
from scene3d.graph.scene_graph import SceneGraph
from scene3d.language.program import ObjectRef, RelationClause, evaluate, relation_matrix
from scene3d.language.vocab import DEFAULT_VOCABULARY, Vocabulary

#: Relations used in referrals (inverse names included); egocentric ones need a viewpoint.
REFERRAL_RELATIONS = (
    "on", "supporting", "inside", "contains", "embedded", "above", "below", "mounted_on",
    "near", "far", "next_to", "closest", "farthest", "front_of", "behind", "left_of", "right_of",
) + EGOCENTRIC


@dataclass(frozen=True)
class Candidate:
    """A unique program for ``target`` (row index) with its relation name (or 'attribute')."""

    target: int
    program: ObjectRef
    relation: str


def _one_hot(labels: list[str]) -> tuple[list[str], np.ndarray]:
    classes = sorted(set(labels))
    index = {c: k for k, c in enumerate(classes)}
    onehot = np.zeros((len(labels), len(classes)), dtype=np.int32)
    onehot[np.arange(len(labels)), [index[x] for x in labels]] = 1
    return classes, onehot


#: Relations that single out one object of a class by comparing it with the others (the
#: anchor must then be one definite object: "the chair closest to the door", never "... to a door").
COMPARATIVE = ("closest", "farthest")


def find_candidates(graph: SceneGraph, rng: np.random.Generator, chained: int = 2,
                    vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> list[Candidate]:
    """All unique single-relation, attribute, superlative and between programs, plus up to
    ``chained`` random two-step chains per target.

    Targets and anchors are objects with informative labels (``vocabulary.informative``) that
    no other class of the scene could be taken for (``vocabulary.confusable``);
    room structure (floor, walls) anchors a program only for a target that has no other one,
    and closest / farthest only take anchors whose class is unique in the scene.
    """
    t = graph.objects
    n = len(t)
    if n == 0:
        return []
    classes, onehot = _one_hot(t.labels)
    label_idx = onehot.argmax(axis=1)
    confusable = vocabulary.confusable(t.labels)
    informative = graph.label_flags(vocabulary.informative) & np.array([x not in confusable for x in t.labels], dtype=bool)
    target_ok = ~t.structure & informative
    out: list[Candidate] = []

    # attributes and superlatives
    attr_values = {"color": t.color_names, "material": t.materials, "size_word": graph.relations.size_word}
    multi = target_ok & (onehot.sum(axis=0)[label_idx] > 1)
    for key, values in attr_values.items():
        keyed = np.array([f"{label_idx[i]}|{v}" for i, v in enumerate(values)])
        _, inv, cnt = np.unique(keyed, return_inverse=True, return_counts=True)
        for i in np.flatnonzero(multi & (cnt[inv.reshape(-1)] == 1)):
            if values[i] is not None:
                out.append(Candidate(int(i), ObjectRef(t.labels[i], ((key, values[i]),)), "attribute"))
    for sup in SUPERLATIVES:
        for i in np.flatnonzero(graph.relations.superlative[sup] & target_ok):
            out.append(Candidate(int(i), ObjectRef(t.labels[i], (("superlative", sup),)), "superlative"))

    # one relation to a class: unique when exactly one object of the target's class has it
    anchor_ok = ((~t.structure) & informative) | np.isin(np.array(t.labels, dtype=object), ["floor", "wall"])
    unique_class = onehot.sum(axis=0) == 1                                # (C,)
    rels, mats = [], []
    for rel in REFERRAL_RELATIONS:
        try:
            mats.append(relation_matrix(graph, rel))
        except KeyError:
            continue
        rels.append(rel)
    if rels:
        hot = onehot.astype(np.float32)
        stacked = np.stack(mats).astype(np.float32)                          # (R, N, N)
        a = (stacked @ (hot * anchor_ok[:, None])) > 0                         # (R, N, C): i rel some object of class c
        a[[r in COMPARATIVE for r in rels]] &= unique_class[None, None]
        targets = hot * target_ok[:, None]                                     # (N, C)
        counts = np.einsum("nt,rna->rta", targets, a.astype(np.float32))       # (R, C_target, C_anchor)
        rr, rows, cols = np.nonzero(counts == 1)
        if len(rr):
            members = (targets[:, rows] * a[rr, :, cols].T).argmax(axis=0)     # the one target of each hit
            for r, ct, ca, i in zip(rr.tolist(), rows.tolist(), cols.tolist(), members.tolist()):
                out.append(Candidate(i, ObjectRef(classes[ct], (), RelationClause(rels[r], (ObjectRef(classes[ca]),))),
                                     rels[r]))

    # between two classes
    trip = graph.relations.between
    if len(trip):
        # informative anchors of another class than the target ("the stool between a shelf and a stool": no)
        own = (label_idx[trip[:, 1]] == label_idx[trip[:, 0]]) | (label_idx[trip[:, 2]] == label_idx[trip[:, 0]])
        trip = trip[anchor_ok[trip[:, 1]] & anchor_ok[trip[:, 2]] & target_ok[trip[:, 0]] & ~own]
    if len(trip):
        key = np.stack([label_idx[trip[:, 0]], np.minimum(label_idx[trip[:, 1]], label_idx[trip[:, 2]]),
                        np.maximum(label_idx[trip[:, 1]], label_idx[trip[:, 2]])], axis=1)
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        pairs = np.unique(inverse.reshape(-1) * n + trip[:, 0])          # (class key, target) pairs
        per_key = np.bincount(pairs // n, minlength=len(uniq))
        for pair in pairs[per_key[pairs // n] == 1]:                     # keys with a single target
            ct, c1, c2 = uniq[pair // n]
            out.append(Candidate(int(pair % n), ObjectRef(classes[ct], (), RelationClause(
                "between", (ObjectRef(classes[c1]), ObjectRef(classes[c2])))), "between"))
    for i in np.flatnonzero(graph.relations.middle & target_ok):
        if (graph.relations.middle & (label_idx == label_idx[i])).sum() == 1:
            out.append(Candidate(int(i), ObjectRef(t.labels[i], (), RelationClause("middle")), "middle"))

    # chains: target -rel1-> (anchor class that itself -rel2-> another class)
    if chained and rels:
        for i in np.flatnonzero(target_ok & (onehot.sum(axis=0)[label_idx] > 1)):
            for _ in range(chained * 3):
                r1 = rels[int(rng.integers(len(rels)))]
                anchors = np.flatnonzero(relation_matrix(graph, r1)[i] & anchor_ok)
                if not len(anchors):
                    continue
                j = int(anchors[rng.integers(len(anchors))])
                r2 = rels[int(rng.integers(len(rels)))]
                seconds = np.flatnonzero(relation_matrix(graph, r2)[j] & anchor_ok)
                seconds = seconds[(seconds != i)]
                if not len(seconds):
                    continue
                k = int(seconds[rng.integers(len(seconds))])
                anchor = ObjectRef(t.labels[j], (), RelationClause(r2, (ObjectRef(t.labels[k]),)))
                prog = ObjectRef(t.labels[i], (), RelationClause(r1, (anchor,)))
                if r1 in COMPARATIVE and evaluate(anchor, graph).sum() != 1:
                    continue
                if evaluate(prog, graph).sum() == 1:
                    out.append(Candidate(int(i), prog, r1))
                    break
    return _prefer_objects_as_anchors(out, graph)


def _prefer_objects_as_anchors(candidates: list[Candidate], graph: SceneGraph) -> list[Candidate]:
    """Drop the programs anchored on room structure ("the door on the floor") for every target
    that has another program."""
    structure = set(graph.config.structure_labels)
    dull = [any(a.label in structure for a in c.program.anchor_refs()) for c in candidates]
    has_other = {c.target for c, d in zip(candidates, dull) if not d}
    return [c for c, d in zip(candidates, dull) if not d or c.target not in has_other]


#: How readily a relation is picked when a target has several (far and floor support are dull).
RELATION_WEIGHT = {"far": 0.3, "near": 0.7, "on": 1.0, "attribute": 1.0}


def select(candidates: list[Candidate], rng: np.random.Generator, per_target: int, per_scene: int,
           class_counts: dict[int, int]) -> list[Candidate]:
    """Pick a varied subset: per target, rounds over its relations in a weighted random order
    taking one more program of each relation per round (so every relation is used once before
    any twice) until ``per_target``; one program for a target whose class is unique; then cap
    the scene at ``per_scene``."""
    by_target: dict[int, dict[str, list[Candidate]]] = {}
    for c in candidates:
        by_target.setdefault(c.target, {}).setdefault(c.relation, []).append(c)
    chosen: list[Candidate] = []
    for target in sorted(by_target):
        groups = by_target[target]
        names = sorted(groups)
        weights = np.array([RELATION_WEIGHT.get(r, 1.0) for r in names])
        order = np.argsort(-rng.random(len(names)) ** (1.0 / weights))  # weighted order without replacement
        limit = per_target if class_counts[target] > 1 else 1
        pools = [groups[names[k]] for k in order]
        shuffled = [pool if len(pool) == 1 else [pool[j] for j in rng.permutation(len(pool))] for pool in pools[:limit]]
        picked = [c for rnd in range(max(map(len, shuffled))) for pool in shuffled if rnd < len(pool) for c in (pool[rnd],)]
        chosen.extend(picked[:limit])
    if len(chosen) > per_scene:
        chosen = [chosen[k] for k in sorted(rng.choice(len(chosen), per_scene, replace=False))]
    return chosen
