"""The SceneGraph: a typed wrapper over a networkx MultiDiGraph of object relations.

Nodes are object ids with their class, box and attributes; edges run from the
target to the anchor with ``relation`` as the key (``cup -on-> table``), and
``between`` edges carry the other anchor. Stored as networkx node-link JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from scene3d.errors import SceneFormatError
from scene3d.graph.config import RelationConfig
from scene3d.graph.relations import INVERSE, SUPERLATIVES, ObjectTable, Relations, Viewpoint
from scene3d.io._json import read_json
from scene3d.io.atomic import atomic_write_text

FORMAT = "scene3d.graph"


@dataclass
class SceneGraph:
    """Objects and their relations in one scene.

    Attributes:
        scene_id: the scene.
        room_type: the room's type, or None.
        objects: per-object arrays (row order of the relation matrices).
        relations: the relation matrices, triples and node flags.
        viewpoint: the observer of the egocentric relations, or None (then there are none).
        config: the thresholds used.
    """

    scene_id: str
    room_type: str | None
    objects: ObjectTable
    relations: Relations
    viewpoint: Viewpoint | None
    config: RelationConfig

    # -------------------------------------------------------------- queries
    def label_mask(self, label: str) -> np.ndarray:
        """(N,) bool: the objects of class ``label`` (a fresh array; masks are cached per class)."""
        cache = self.__dict__.setdefault("_label_masks", {})
        if label not in cache:
            cache[label] = np.array([x == label for x in self.objects.labels], dtype=bool)
        return cache[label].copy()

    def label_count(self, label: str) -> int:
        """How many objects of class ``label`` the scene has."""
        counts = self.__dict__.get("_label_counts")
        if counts is None:
            counts = self.__dict__["_label_counts"] = Counter(self.objects.labels)
        return counts[label]

    def label_flags(self, predicate: Callable[[str], bool]) -> np.ndarray:
        """(N,) bool: ``predicate(label)`` per object (read-only; cached per predicate)."""
        cache = self.__dict__.setdefault("_label_flags", {})
        if predicate not in cache:
            flags = np.array([predicate(x) for x in self.objects.labels], dtype=bool)
            flags.flags.writeable = False
            cache[predicate] = flags
        return cache[predicate]

    def index(self, object_id: int) -> int:
        """Row of ``object_id`` in the relation matrices."""
        hits = np.flatnonzero(self.objects.ids == object_id)
        if not len(hits):
            raise KeyError(f"scene {self.scene_id} has no object {object_id}")
        return int(hits[0])

    def relation_names(self) -> list[str]:
        return sorted(self.relations.pair)

    def edges(self, relation: str) -> list[tuple[int, int]]:
        """(target id, anchor id) pairs of a pair relation or of an inverse name ("supporting")."""
        inverse = {v: k for k, v in INVERSE.items()}
        if relation in self.relations.pair:
            m = self.relations.pair[relation]
        elif relation in inverse and inverse[relation] in self.relations.pair:
            m = self.relations.pair[inverse[relation]].T
        else:
            raise KeyError(f"unknown relation {relation!r}; known: {self.relation_names()}")
        ids = self.objects.ids
        return [(int(ids[i]), int(ids[j])) for i, j in np.argwhere(m)]

    def between(self) -> list[tuple[int, int, int]]:
        """(target id, anchor id, anchor id) triples."""
        ids = self.objects.ids
        return [tuple(int(ids[k]) for k in row) for row in self.relations.between]

    def num_edges(self) -> int:
        return int(sum(m.sum() for m in self.relations.pair.values()) + len(self.relations.between))

    # -------------------------------------------------------------- networkx
    def to_networkx(self) -> nx.MultiDiGraph:
        """The graph: one node per object, one edge per (target, anchor, relation)."""
        g = nx.MultiDiGraph(scene_id=self.scene_id, room_type=self.room_type,
                            viewpoint=None if self.viewpoint is None else {
                                "position": np.asarray(self.viewpoint.position, float).tolist(),
                                "direction": np.asarray(self.viewpoint.direction, float).tolist()})
        t, r = self.objects, self.relations
        for i, oid in enumerate(t.ids.tolist()):
            g.add_node(oid, label=t.labels[i], center=t.center[i].tolist(), size=t.size[i].tolist(),
                       yaw=float(t.yaw[i]), has_front=bool(t.has_front[i]), structure=bool(t.structure[i]),
                       color=t.color_names[i], material=t.materials[i], size_class=r.size_class[i],
                       size_word=r.size_word[i],
                       middle=bool(r.middle[i]),
                       superlatives=[s for s in SUPERLATIVES if r.superlative[s][i]])
        ids = t.ids.tolist()
        for name, m in r.pair.items():
            for i, j in np.argwhere(m):
                g.add_edge(ids[i], ids[j], key=name, relation=name)
        for ti, a, b in r.between:
            g.add_edge(ids[ti], ids[a], key=f"between:{ids[b]}", relation="between", other=ids[b])
            g.add_edge(ids[ti], ids[b], key=f"between:{ids[a]}", relation="between", other=ids[a])
        return g

    def to_json(self) -> dict:
        data = nx.node_link_data(self.to_networkx(), edges="edges")
        return {"format": FORMAT, "version": 1, "relations": self.relation_names(), "graph": data}

    def save(self, path: str | Path) -> None:
        """Write node-link JSON atomically."""
        atomic_write_text(path, json.dumps(self.to_json()))


def load_graph_json(path: str | Path) -> nx.MultiDiGraph:
    """Read a graph.json back as a networkx MultiDiGraph (SceneFormatError when malformed)."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "graph" not in data:
        raise SceneFormatError(path, f"not a {FORMAT} file")
    try:
        return nx.node_link_graph(data["graph"], directed=True, multigraph=True, edges="edges")
    except (KeyError, TypeError, nx.NetworkXError) as exc:
        raise SceneFormatError(path, f"malformed node-link graph ({exc})") from None
