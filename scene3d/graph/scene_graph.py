"""The SceneGraph: a typed wrapper over a networkx MultiDiGraph of object relations.

Nodes are object ids with their class, box and attributes; edges run from the
target to the anchor with ``relation`` as the key (``cup -on-> table``), and
``between`` edges carry the other anchor. Stored as networkx node-link JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from scene3d.errors import SceneFormatError
from scene3d.graph.config import RelationConfig
from scene3d.graph.relations import INVERSE, SUPERLATIVES, ObjectTable, Relations, Viewpoint
from scene3d.io._json import read_json
from scene3d.io.atomic import atomic_write_text

FORMAT = "scene3d.graph"
VERSION = 2


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

    def to_json(self, built_from: dict | None = None) -> dict:
        """The graph.json document (format version 2).

        ``graph`` is networkx node-link JSON for other tools; ``tables`` holds the exact arrays
        (dtype, shape, values) that :meth:`from_json` reads back; ``config`` the thresholds;
        ``built_from`` what the graph was built from (see :mod:`scene3d.graph.stored`), or None.
        """
        t, r = self.objects, self.relations
        tables = {
            "objects": {name: _encode(getattr(t, name)) for name in _TABLE_ARRAYS}
            | {"labels": t.labels, "color_names": t.color_names, "materials": t.materials},
            "pair": {name: _encode(np.argwhere(m)) for name, m in r.pair.items()},
            "between": _encode(r.between), "middle": _encode(r.middle),
            "superlative": {name: _encode(v) for name, v in r.superlative.items()},
            "size_class": r.size_class, "size_word": r.size_word,
            "viewpoint": None if self.viewpoint is None else {
                "position": _encode(np.asarray(self.viewpoint.position)),
                "direction": _encode(np.asarray(self.viewpoint.direction))},
        }
        return {"format": FORMAT, "version": VERSION, "scene_id": self.scene_id, "room_type": self.room_type,
                "relations": self.relation_names(), "config": json.loads(json.dumps(asdict(self.config))),
                "built_from": built_from, "graph": nx.node_link_data(self.to_networkx(), edges="edges"),
                "tables": tables}

    @classmethod
    def from_json(cls, data: dict, path: str | Path) -> SceneGraph:
        """The SceneGraph of a version-2 graph.json document (``path`` names the file in errors).

        Raises:
            SceneFormatError: another format or version, or malformed tables.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise SceneFormatError(path, f"not a {FORMAT} version {VERSION} file (rebuild it with scene3d graph)")
        try:
            tab = data["tables"]
            obj = tab["objects"]
            n = len(obj["labels"])
            objects = ObjectTable(**{name: _decode(obj[name]) for name in _TABLE_ARRAYS},
                                  labels=list(obj["labels"]), color_names=list(obj["color_names"]),
                                  materials=list(obj["materials"]))
            pair = {}
            for name, rows in tab["pair"].items():
                m = np.zeros((n, n), dtype=bool)
                ij = _decode(rows)
                m[ij[:, 0], ij[:, 1]] = True
                pair[name] = m
            relations = Relations(pair=pair, between=_decode(tab["between"]), middle=_decode(tab["middle"]),
                                  superlative={k: _decode(v) for k, v in tab["superlative"].items()},
                                  size_class=list(tab["size_class"]), size_word=list(tab["size_word"]))
            vp = tab["viewpoint"]
            viewpoint = None if vp is None else Viewpoint(_decode(vp["position"]), _decode(vp["direction"]))
            config = RelationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()})
            return cls(str(data["scene_id"]), data["room_type"], objects, relations, viewpoint, config)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SceneFormatError(path, f"malformed scene graph tables ({type(exc).__name__}: {exc})") from None

    def save(self, path: str | Path, built_from: dict | None = None) -> None:
        """Write :meth:`to_json` atomically."""
        atomic_write_text(path, json.dumps(self.to_json(built_from)))


#: The ObjectTable fields stored as arrays (the rest are lists of strings).
_TABLE_ARRAYS = ("ids", "center", "size", "lo", "hi", "yaw", "has_front", "structure", "ocenter", "osize", "oyaw")


def _encode(a: np.ndarray) -> dict:
    """An array as JSON: dtype, shape and values (floats round-trip exactly through JSON)."""
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}


def _decode(d: dict) -> np.ndarray:
    """The array of :func:`_encode` (ValueError on a mismatched shape)."""
    return np.array(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])


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
