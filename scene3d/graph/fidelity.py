"""Does our scene graph hold the relations of a reference dataset (Sr3D)?

For every Sr3D referral (target, anchor(s), reference type) the graph of its
scene, built from the ground-truth object boxes, either holds the same
relation or not; recall per relation family is our fidelity measure against a
generator nobody here wrote.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from scene3d.graph.build import build_scene_graph
from scene3d.graph.config import RelationConfig
from scene3d.graph.scene_graph import SceneGraph
from scene3d.structures import Scene, Utterance

#: Sr3D reference_type -> (our pair relation, whether target and anchor swap), or "between".
SR3D_RELATIONS = {
    "supported-by": ("on", False), "supporting": ("on", True),
    "above": ("above", False), "below": ("above", True),
    "front": ("front_of", False), "back": ("behind", False),
    "left": ("left_of", False), "right": ("right_of", False),
    "closest": ("closest", False), "farthest": ("farthest", False),
}
SR3D_FAMILY = {"supported-by": "support", "supporting": "support", "above": "vertical", "below": "vertical",
               "front": "allocentric", "back": "allocentric", "left": "allocentric", "right": "allocentric",
               "closest": "horizontal", "farthest": "horizontal", "between": "between"}


def holds(graph: SceneGraph, u: Utterance) -> bool:
    """Whether ``graph`` holds the relation that Sr3D utterance ``u`` states."""
    try:
        t = graph.index(u.target_id)
        anchors = [graph.index(a) for a in u.anchor_ids]
    except KeyError:
        return False
    if u.relation == "between":
        if len(anchors) != 2:
            return False
        a, b = sorted(anchors)
        trip = graph.relations.between
        return bool(((trip[:, 0] == t) & (trip[:, 1] == a) & (trip[:, 2] == b)).any()) if len(trip) else False
    name, swap = SR3D_RELATIONS[u.relation]
    m = graph.relations.pair[name]
    return bool(m[anchors[0], t] if swap else m[t, anchors[0]])


def sr3d_recall(utterances: Iterable[Utterance], scenes: Mapping[str, Scene],
                config: RelationConfig | None = None) -> dict[str, dict[str, float]]:
    """Recall of the Sr3D references per family and per reference type.

    Returns:
        ``{name: {"total": n, "held": k, "recall": k / n}}`` for every family and every
        reference type (keys like ``"support"`` and ``"support/supporting"``), plus
        ``"missing"`` counts of utterances whose scene is not in ``scenes``.
    """
    graphs: dict[str, SceneGraph] = {}
    total: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    missing = 0
    for u in utterances:
        if u.relation not in SR3D_FAMILY:
            continue
        scene = scenes.get(u.scene_id)
        if scene is None:
            missing += 1
            continue
        if u.scene_id not in graphs:
            graphs[u.scene_id] = build_scene_graph(scene, config=config)
        ok = holds(graphs[u.scene_id], u)
        family = SR3D_FAMILY[u.relation]
        for key in (family, f"{family}/{u.relation}"):
            total[key] += 1
            held[key] += int(ok)
    out = {k: {"total": total[k], "held": held[k], "recall": held[k] / total[k]} for k in sorted(total)}
    out["missing"] = {"total": missing, "held": 0, "recall": float("nan") if not missing else 0.0}
    return out


def format_recall(result: dict[str, dict[str, float]]) -> str:
    """A table: family, reference type, total, held, recall."""
    rows = [f"{'family / type':<26}{'total':>7}{'held':>7}{'recall':>9}"]
    for key, v in result.items():
        if key == "missing" or not v["total"]:
            continue
        rows.append(f"{key:<26}{v['total']:>7}{v['held']:>7}{v['recall']:>9.1%}")
    if result.get("missing", {}).get("total"):
        rows.append(f"(utterances whose scene was not loaded: {result['missing']['total']})")
    return "\n".join(rows)


__all__ = ["SR3D_FAMILY", "format_recall", "holds", "sr3d_recall"]
