"""``SceneIndex``: many scenes on disk, searchable in natural language.

Identity: every scene is stored under a **key** ``"<collection>/<scene id>"`` (:func:`scene_key`),
the collection being a dataset or source name (``scene3d index`` takes the dataset's name from
``dataset.json``, else the data folder's name, or ``collection=``). With the key the index keeps
the scene's **source** and the **path** of its folder, so every hit can be opened. The same scene
(same objects) arriving from another path is a move: only the path changes. A different scene
under a key whose folder still exists is refused (:class:`SceneKeyError`), never overwritten.

Layout of an index folder:

* ``index.sqlite``: the truth. Per scene: key, scene id, source, path, its text-aligned
  embedding, a content hash and metadata; per object: label, box and embedding. Each scene is
  written in one SQLite transaction (``BEGIN IMMEDIATE``, WAL journal), so a killed ``index`` run
  leaves every scene either fully in or fully out, a re-run skips scenes whose content hash is
  unchanged (nothing lost, nothing twice), and several ``index`` runs may write one index at once.
* ``scenes.faiss.npz``: a FAISS index over the scene embeddings with its row keys, derived from
  the database (exact inner product below ``approximate_from`` scenes, IVF-Flat above), written
  atomically and rebuilt when the database has changed since (a generation counter).
* For image queries (scenes added with a teacher, :mod:`scene3d.repository.localize`): per frame a
  view descriptor, per scene its SIFT landmarks (in the scene's transaction), and ``views.faiss.npz``
  over the view descriptors, derived like ``scenes.faiss.npz``.
* ``facts.npz``: an inverted index of the scenes' facts (room type, class counts, coloured classes,
  relation triples: :func:`scene3d.repository.query.scene_tokens`) over the rows of
  ``scenes.faiss.npz``, derived the same way; text search draws candidates from it.

Embeddings live in all-MiniLM-L6-v2's sentence space (:mod:`scene3d.repository.embed`), so a
text query is compared with them directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from scene3d.errors import ConfigError, Scene3DError
from scene3d.io.atomic import atomic_write_bytes
from scene3d.repository.embed import SceneEmbedder
from scene3d.repository.localize import (
    Landmarks,
    LocalizationError,
    estimate_pose,
    local_features,
    query_descriptor,
    scene_landmarks,
    scene_view_descriptors,
)
from scene3d.repository.query import (
    QueryFacts,
    fact_score,
    parse_query,
    query_weights,
    scene_facts,
    scene_tokens,
)
from scene3d.repository.register import register_objects
from scene3d.structures import Box, Frame, Scene, SceneObject, SearchHit

SCHEMA_VERSION = "3"  # 3: compact landmarks (Landmarks.to_bytes)
SCHEMA = """
CREATE TABLE IF NOT EXISTS scenes (key TEXT PRIMARY KEY, scene_id TEXT NOT NULL, source TEXT NOT NULL, path TEXT,
                                   hash TEXT NOT NULL, embedding BLOB NOT NULL, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (key TEXT NOT NULL, object_id INTEGER NOT NULL, label TEXT NOT NULL,
                                    box TEXT NOT NULL, embedding BLOB NOT NULL, PRIMARY KEY (key, object_id));
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS views (key TEXT NOT NULL, name TEXT NOT NULL, descriptor BLOB NOT NULL,
                                  PRIMARY KEY (key, name));
CREATE TABLE IF NOT EXISTS landmarks (key TEXT PRIMARY KEY, xyz BLOB NOT NULL, descriptors BLOB NOT NULL);
"""
HASH_LEN = 64  # hex digits of scene_hash: the part of a stored digest that says *which* scene it is


class SceneKeyError(Scene3DError, ValueError):
    """A scene key is taken by a different scene, unknown, or ambiguous; the message names the fix."""


class IndexFormatError(Scene3DError, ValueError):
    """The folder holds an index this version of scene3d cannot read (e.g. an older schema)."""


class AddOutcome(str, Enum):
    """What :meth:`SceneIndex.add` did with a scene."""

    ADDED = "added"          # a new key
    UPDATED = "updated"      # the key's scene changed (objects, caption or frames) and was re-embedded
    MOVED = "moved"          # the same scene from another path: only the path was updated
    UNCHANGED = "unchanged"  # already there, same content, same path


def scene_key(scene_id: str, collection: str = "") -> str:
    """The index key of a scene: ``"<collection>/<scene id>"``, or the bare scene id without a collection.

    Raises:
        SceneKeyError: a collection or scene id that is empty or holds a ``/``.
    """
    if not scene_id or "/" in scene_id:
        raise SceneKeyError(f"scene id {scene_id!r}: must be non-empty and hold no '/'")
    if "/" in collection:
        raise SceneKeyError(f"collection {collection!r}: must hold no '/' (it is the first part of a key)")
    return f"{collection}/{scene_id}" if collection else scene_id


@dataclass(frozen=True)
class SceneRecord:
    """Where an indexed scene comes from.

    key: its index key (:func:`scene_key`); scene_id: the scene's own id; source: ``Scene.meta.source``
    ("synthetic", "scannet", ..., "descriptor" for :meth:`SceneIndex.add_descriptors`); path: the scene
    folder (absolute) or URI it was indexed from, None when not given; room_type / num_objects: stored
    metadata; caption: the caption it was indexed with, else its inventory sentence ("a bedroom with one
    bed, two lamps and one wardrobe")."""

    key: str
    scene_id: str
    source: str
    path: str | None
    room_type: str | None
    caption: str | None
    num_objects: int


def scene_hash(scene: Scene) -> str:
    """A hash of what the index stores of a scene (objects' labels, colours and boxes)."""
    h = hashlib.sha256(scene.scene_id.encode())
    for o in scene.objects:
        h.update(f"{o.object_id}|{o.label}|{o.color_name}|".encode())
        h.update(np.concatenate([o.box.center, o.box.size, [o.box.yaw]]).astype(np.float64).tobytes())
    return h.hexdigest()


def dataset_collection(root: str | Path) -> str:
    """The collection (key namespace) of a dataset folder: the ``name`` in its ``dataset.json``
    (``scene3d generate`` writes one), else the folder's own name."""
    record = Path(root) / "dataset.json"
    if record.is_file():
        name = json.loads(record.read_text()).get("name")
        if name:
            return str(name)
    return Path(root).resolve().name


def _use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode (persistent; readers and one writer work side by side). Switching
    needs the database to itself and SQLite answers "locked" at once, without its busy wait, when
    another process is opening it too, so it is retried here."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal" or \
                    db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _is_scene_folder(path: str) -> bool:
    return (Path(path) / "scene.json").is_file()


class SceneIndex:
    """An on-disk index of scenes (see the module doc).

    Several processes may write one index at once (``scene3d index`` runs side by side): every
    write is one ``BEGIN IMMEDIATE`` transaction that re-checks the key it writes, and SQLite runs
    in WAL mode with a ``timeout`` seconds wait for the write lock.

    Args:
        path: the index folder (created when missing).
        embedder: text-aligned embeddings (default: all-MiniLM-L6-v2, offline, loaded on first use).
        approximate_from: scene count from which the FAISS index is approximate (IVF-Flat).
        timeout: seconds to wait for another process's write before ``sqlite3.OperationalError``.
        device: where the default embedder's text encoder runs (a torch device; results are
            stored and returned on the CPU).

    Raises:
        IndexFormatError: the folder holds an index of an older schema (rebuild it).
    """

    def __init__(self, path: str | Path, embedder: SceneEmbedder | None = None, approximate_from: int = 20000,
                 timeout: float = 120.0, device: torch.device | str = "cpu"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # one connection, usable from a server's worker threads; autocommit: transactions are explicit
        self.db = sqlite3.connect(self.path / "index.sqlite", check_same_thread=False, timeout=timeout,
                                  isolation_level=None)
        _use_wal(self.db, timeout)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(scenes)")}
        if columns and "key" not in columns:
            self.db.close()
            raise IndexFormatError(f"{self.path}: an index of an older scene3d (scenes without keys, sources or "
                                   "paths); rebuild it: scene3d index data=<scenes> index=<a new folder>")
        self.db.executescript(SCHEMA)  # idempotent (IF NOT EXISTS)
        stored = self.set_info("schema", SCHEMA_VERSION, replace=False)
        if stored == "2" and self.db.execute("SELECT 1 FROM landmarks LIMIT 1").fetchone() is None:
            stored = self.set_info("schema", SCHEMA_VERSION)  # 2 -> 3 changed the landmarks only
        if stored != SCHEMA_VERSION:
            self.db.close()
            raise IndexFormatError(f"{self.path}: an index of schema {stored} (this scene3d reads {SCHEMA_VERSION}: "
                                   "its image-query landmarks are stored differently); rebuild it: "
                                   "scene3d index data=<scenes> index=<a new folder> images=true")
        self._embedder, self.device = embedder, device
        self.approximate_from = approximate_from
        self._faiss: dict[str, tuple[object, list[str]]] = {}  # derived FAISS indexes by table
        self._labels: tuple[int, frozenset[str]] = (-1, frozenset())  # (generation, labels)
        # (the scene FAISS keys it is aligned with, token -> rows): the fact index, see fact_index()
        self._postings: tuple[list[str], dict[str, np.ndarray]] | None = None

    @property
    def embedder(self) -> SceneEmbedder:
        if self._embedder is None:
            self._embedder = SceneEmbedder(device=self.device)
        return self._embedder

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self):
        """One write transaction, holding the database's write lock from its first statement."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def _generation(self) -> int:
        return int(self.get_info("generation") or 0)

    def get_info(self, key: str) -> str | None:
        """A value of the index's ``info`` table (e.g. ``"image_teacher"``, the teacher config that
        ``scene3d index images=true`` recorded, as JSON), or None."""
        row = self.db.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_info(self, key: str, value: str, replace: bool = True) -> str:
        """Store ``value`` under ``key``; with ``replace=False`` an existing value is kept. Returns the stored value."""
        with self._transaction():
            self.db.execute(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO info VALUES (?, ?)", (key, value))
            return self.db.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()[0]

    def _bump(self) -> None:
        self.db.execute("INSERT OR REPLACE INTO info VALUES ('generation', ?)", (str(self._generation() + 1),))

    def _decide(self, key: str, digest: str, path: str | None, replace: bool) -> AddOutcome | None:
        """What to do with a scene of content ``digest`` from ``path`` under ``key``: an outcome that needs
        no embedding (UNCHANGED, MOVED), or None (embed and write it: ADDED or UPDATED).

        Raises:
            SceneKeyError: the key holds a different scene whose folder still exists elsewhere.
        """
        row = self.db.execute("SELECT hash, path FROM scenes WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        stored_digest, stored_path = row
        if stored_digest == digest:
            return AddOutcome.UNCHANGED if path is None or stored_path == path else AddOutcome.MOVED
        same_scene = stored_digest[:HASH_LEN] == digest[:HASH_LEN]
        if (not same_scene and not replace and path is not None and stored_path is not None
                and stored_path != path and _is_scene_folder(stored_path)):
            raise SceneKeyError(
                f"key {key!r} already holds a different scene, indexed from {stored_path} (still there); "
                f"{path} has other objects under the same id. Index it under its own collection "
                "(scene3d index ... collection=<name>), or pass replace=true to replace the indexed one")
        return None

    def add(self, scene: Scene, caption: str | None = None, teacher=None, *, collection: str = "",
            path: str | Path | None = None, replace: bool = False) -> AddOutcome:
        """Index ``scene`` under the key ``collection/scene_id`` (:func:`scene_key`).

        The same scene (same objects) from another path is a move: the stored path is updated, nothing
        is embedded again. A scene whose content changed replaces the key's old version when it comes
        from the same path, or when the old path no longer holds a scene (moved and edited). A
        *different* scene under a key whose folder still exists elsewhere is refused.

        Args:
            scene: the scene (its objects; its frames too when ``teacher`` is given).
            caption: a description of the scene that its embedding also takes in (e.g. its
                generated scene caption).
            teacher: a 2D teacher (:class:`scene3d.teachers.Teacher`): also store the scene's view
                descriptors and landmarks for image queries (needs frames with depth). Use one
                teacher for a whole index: view descriptors of different teachers do not compare.
            collection: the key's namespace: a dataset or source name ("" = the bare scene id).
            path: the scene's folder (stored absolute) or URI, so that a hit can be opened.
            replace: replace a different scene under the same key instead of refusing it.

        Raises:
            LocalizationError: ``teacher`` given but no frame of the scene has depth.
            SceneKeyError: a different scene holds the key (see above), or a bad collection / scene id.
        """
        key = scene_key(scene.scene_id, collection)
        if path is not None and "://" not in str(path):
            path = str(Path(path).resolve())
        digest = scene_hash(scene) + hashlib.sha256((caption or "").encode()).hexdigest()[:16]
        if teacher is not None:  # the frames' names, poses and pixels: changed frames are re-indexed
            h = hashlib.sha256()
            for f in scene.frames:
                h.update(f.name.encode() + f.cam_to_world.tobytes() + f.rgb.tobytes())
            digest += "+images" + h.hexdigest()[:16]
        outcome = self._decide(key, digest, path, replace)
        if outcome is AddOutcome.UNCHANGED:
            return outcome
        prepared = None if outcome is AddOutcome.MOVED else self._prepare(scene, caption, teacher)
        while True:
            with self._transaction():  # decide again under the write lock: another process may have written the key
                outcome = self._decide(key, digest, path, replace)
                if outcome is AddOutcome.MOVED:
                    self.db.execute("UPDATE scenes SET path = ? WHERE key = ?", (path, key))
                if outcome is not None:
                    return outcome
                if prepared is not None:
                    existed = self.db.execute("SELECT 1 FROM scenes WHERE key = ?", (key,)).fetchone() is not None
                    self._write(key, scene.scene_id, scene.meta.source or "", path, digest, *prepared)
                    break
            prepared = self._prepare(scene, caption, teacher)  # the key's scene changed meanwhile: embed after all
        self._faiss = {}
        return AddOutcome.UPDATED if existed else AddOutcome.ADDED

    def _prepare(self, scene: Scene, caption: str | None, teacher):
        """(scene embedding, meta, objects, image part) of a scene, as :meth:`_write` takes them (the slow part)."""
        image = None
        if teacher is not None:
            landmarks = scene_landmarks(scene)  # raises first when no frame has depth
            image = (*scene_view_descriptors(scene, teacher), landmarks)
        emb = self.embedder.embed_scene(scene, caption)
        meta = {"num_objects": len(scene.objects), "room_type": scene.meta.room_type, "caption": caption,
                "inventory": self.embedder.inventory(scene), "facts": scene_facts(scene)}
        objects = [(o.object_id, o.label, {"center": o.box.center.tolist(), "size": o.box.size.tolist(),
                                            "yaw": o.box.yaw}, e) for o, e in zip(scene.objects, emb.objects)]
        return emb.scene, meta, objects, image

    def _write(self, key: str, scene_id: str, source: str, path: str | None, digest: str, embedding: np.ndarray,
               meta: dict, objects: list[tuple[int, str, dict, np.ndarray]],
               image: tuple[list[str], np.ndarray, Landmarks] | None = None) -> None:
        """Store one scene's precomputed embeddings (inside the caller's transaction; replacing an older version).

        Args:
            key / scene_id / source / path: identity and provenance (see :class:`SceneRecord`).
            digest: the content hash (:func:`scene_hash` + caption and frames parts).
            embedding: (D,) L2-normalised scene embedding.
            meta: JSON-able metadata.
            objects: (object id, label, box as JSON-able dict, (D,) embedding) per object.
            image: for image queries, (frame names, (V, E) view descriptors, landmarks); None = none.
        """
        self._delete_rows(key)
        self.db.execute("INSERT INTO scenes VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key, scene_id, source, path, digest, np.asarray(embedding, np.float32).tobytes(),
                         json.dumps(meta)))
        self.db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?)", [
            (key, oid, label, json.dumps(box), np.asarray(e, np.float32).tobytes()) for oid, label, box, e in objects])
        if image is not None:
            names, views, landmarks = image
            self.db.executemany("INSERT INTO views VALUES (?, ?, ?)", [
                (key, n, np.asarray(v, np.float32).tobytes()) for n, v in zip(names, views)])
            self.db.execute("INSERT INTO landmarks VALUES (?, ?, ?)", (key, *landmarks.to_bytes()))
        self._bump()

    def _delete_rows(self, key: str) -> int:
        """Delete a scene's rows from every table (inside the caller's transaction); 1 if it was indexed."""
        for table in ("objects", "views", "landmarks"):
            self.db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))
        return self.db.execute("DELETE FROM scenes WHERE key = ?", (key,)).rowcount

    def add_descriptors(self, keys: list[str], vectors: np.ndarray, digest: str = "descriptor",
                        metas: list[dict] | None = None) -> None:
        """Store descriptor-only scenes (no objects, no path, source "descriptor") in one transaction:
        scene embeddings computed elsewhere, (M, D) L2-normalised; each key is also the scene id.
        ``metas``: per scene, metadata as :meth:`add` stores it (e.g. ``room_type`` and ``facts``,
        :func:`scene3d.repository.query.scene_facts`); default none."""
        if len(keys) != len(vectors) or (metas is not None and len(metas) != len(keys)):
            raise ValueError(f"{len(keys)} keys, {len(vectors)} vectors, {len(metas or keys)} metas")
        metas = metas if metas is not None else [{}] * len(keys)
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO scenes VALUES (?, ?, 'descriptor', NULL, ?, ?, ?)",
                                [(k, k, digest, np.asarray(v, np.float32).tobytes(), json.dumps(m))
                                 for k, v, m in zip(keys, vectors, metas)])
            self._bump()
        self._faiss = {}

    def delete(self, key: str) -> bool:
        """Remove a scene by key; False when it was not indexed."""
        with self._transaction():
            gone = self._delete_rows(key)
            if gone:
                self._bump()
        self._faiss = {}
        return bool(gone)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM scenes").fetchone()[0])

    def keys(self) -> list[str]:
        """The keys of the indexed scenes, sorted."""
        return [r[0] for r in self.db.execute("SELECT key FROM scenes ORDER BY key")]

    def records(self, keys: list[str] | None = None) -> dict[str, SceneRecord]:
        """Identity, provenance and metadata of the scenes with these keys (default: all), by key;
        unknown keys are left out."""
        query = "SELECT key, scene_id, source, path, meta FROM scenes"
        if keys is None:
            rows = self.db.execute(query).fetchall()
        else:
            rows = [r for i in range(0, len(keys), 500) for r in self.db.execute(
                f"{query} WHERE key IN ({','.join('?' * len(keys[i:i + 500]))})", keys[i:i + 500])]
        out = {}
        for key, scene_id, source, path, meta in rows:
            m = json.loads(meta)
            out[key] = SceneRecord(key, scene_id, source, path, m.get("room_type"),
                                   m.get("caption") or m.get("inventory"), int(m.get("num_objects", 0)))
        return out

    def resolve(self, name: str) -> SceneRecord:
        """The record of a key, or of a scene id that exactly one indexed scene has.

        Raises:
            SceneKeyError: no scene has that key or id, or several scenes share the id (the message lists their keys).
        """
        found = self.records([name])
        if name in found:
            return found[name]
        keys = [r[0] for r in self.db.execute("SELECT key FROM scenes WHERE scene_id = ? ORDER BY key", (name,))]
        if len(keys) == 1:
            return self.records(keys)[keys[0]]
        if keys:
            raise SceneKeyError(f"{len(keys)} indexed scenes have the id {name!r}: name one by its key "
                                f"({', '.join(keys[:5])})")
        raise SceneKeyError(f"{self.path} has no scene with the key or id {name!r} ({len(self)} scenes)")

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """(keys sorted, (M, D) float32 scene embeddings in that order)."""
        rows = self.db.execute("SELECT key, embedding FROM scenes ORDER BY key").fetchall()
        if not rows:
            return [], np.zeros((0, self.embedder.dim), dtype=np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def view_vectors(self) -> tuple[list[str], np.ndarray]:
        """(scene key of each view, (V, E) float32 view descriptors) of the scenes indexed for image queries."""
        rows = self.db.execute("SELECT key, descriptor FROM views ORDER BY key, name").fetchall()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def faiss_index(self, table: str = "scenes"):
        """The FAISS index over the scene embeddings (``table="scenes"``) or the view descriptors
        (``"views"``), loaded or rebuilt when stale, and the scene key of each of its rows.

        The cache file ``<table>.faiss.npz`` holds the FAISS index, its row keys and the database
        generation it was built at in one atomically written file, so two processes rebuilding it
        at once can never pair one's index with the other's keys."""
        import faiss

        if table in self._faiss:
            return self._faiss[table]
        gen = self._generation()
        file = self.path / f"{table}.faiss.npz"
        if file.is_file():
            with np.load(file) as cached:
                if int(cached["generation"]) == gen:
                    self._faiss[table] = faiss.deserialize_index(cached["index"]), cached["keys"].tolist()
                    return self._faiss[table]
        keys, vectors = {"scenes": self.vectors, "views": self.view_vectors}[table]()
        index = build_faiss(vectors, approximate=len(keys) >= self.approximate_from)
        buf = io.BytesIO()
        np.savez(buf, generation=np.int64(gen), index=faiss.serialize_index(index), keys=np.array(keys, dtype=str))
        atomic_write_bytes(file, buf.getvalue())
        self._faiss[table] = index, keys
        return index, keys

    def fact_index(self) -> dict[str, np.ndarray]:
        """The inverted index of the scenes' facts: token (:func:`scene3d.repository.query.scene_tokens`)
        -> (P,) int64 rows, ascending, of the scene FAISS index (:meth:`faiss_index`) whose scenes have it.

        Cached in ``facts.npz`` with the generation and a digest of the FAISS keys it was built over
        (written atomically, rebuilt when either differs), and in memory while the FAISS index is."""
        _, keys = self.faiss_index("scenes")
        if self._postings is not None and self._postings[0] is keys:
            return self._postings[1]
        gen, digest = self._generation(), hashlib.sha256("\n".join(keys).encode()).hexdigest()
        file = self.path / "facts.npz"
        postings = None
        if file.is_file():
            with np.load(file) as cached:
                if int(cached["generation"]) == gen and str(cached["digest"]) == digest:
                    rows = cached["rows"]
                    bounds = cached["offsets"]
                    postings = {t: rows[a:b] for t, a, b in zip(cached["tokens"].tolist(), bounds[:-1], bounds[1:])}
        if postings is None:
            row_of = {k: i for i, k in enumerate(keys)}
            lists: dict[str, list[int]] = {}
            for key, meta in self.db.execute("SELECT key, meta FROM scenes"):
                if key in row_of:
                    m = json.loads(meta)
                    for token in scene_tokens(m.get("facts", {}), m.get("room_type")):
                        lists.setdefault(token, []).append(row_of[key])
            tokens = sorted(lists)
            sizes = [len(lists[t]) for t in tokens]
            rows = np.concatenate([np.sort(lists[t]) for t in tokens]).astype(np.int64) if tokens \
                else np.zeros(0, np.int64)
            bounds = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
            buf = io.BytesIO()
            np.savez(buf, generation=np.int64(gen), digest=np.array(digest), tokens=np.array(tokens, dtype=str),
                     offsets=bounds, rows=rows)
            atomic_write_bytes(file, buf.getvalue())
            postings = {t: rows[a:b] for t, a, b in zip(tokens, bounds[:-1], bounds[1:])}
        self._postings = keys, postings
        return postings

    def landmarks(self, key: str) -> Landmarks:
        """A scene's stored landmarks.

        Raises:
            LocalizationError: the scene was not indexed for image queries.
        """
        row = self.db.execute("SELECT xyz, descriptors FROM landmarks WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise LocalizationError(f"scene {key} has no landmarks: index it with a teacher (images=true)")
        return Landmarks.from_bytes(*row)

    def stored_scene(self, key: str) -> Scene:
        """The indexed objects of a scene as an object-only Scene (labels and boxes; its scene id is the key)."""
        rows = self.db.execute("SELECT object_id, label, box FROM objects WHERE key = ? ORDER BY object_id",
                               (key,)).fetchall()
        objects = []
        for oid, label, box in rows:
            b = json.loads(box)
            objects.append(SceneObject(int(oid), label, Box(np.array(b["center"]), np.array(b["size"]), b["yaw"])))
        return Scene(key, objects=objects)

    def _shortlist(self, vectors: np.ndarray, shortlist: int, table: str = "scenes") -> list[list[tuple[str, float]]]:
        """Per row of ``vectors`` (Q, D), the ``shortlist`` nearest rows of ``table``'s FAISS index
        (scene key, cosine)."""
        index, ids = self.faiss_index(table)
        scores, rows = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(shortlist, len(ids)))
        return [[(ids[r], float(sc)) for sc, r in zip(srow, rrow) if r >= 0] for srow, rrow in zip(scores, rows)]

    def search_scene(self, scene: Scene, top_k: int = 5, shortlist: int = 20, min_overlap: float = 0.7,
                     exclude_self: bool = True) -> list[SceneMatch]:
        """Indexed scenes that are the same place as ``scene`` (re-scans, crops, moved copies).

        A descriptor shortlist, then geometric verification by object registration; kept
        when at least ``min_overlap`` of the smaller scene's objects match. Best overlap first.
        ``exclude_self`` leaves out indexed scenes with the query's scene id (under any collection).
        """
        if len(self) == 0 or not scene.objects:
            return []
        out = []
        for sid, score in self._shortlist(self.embedder.embed_scene(scene).scene[None], shortlist)[0]:
            if exclude_self and sid.rsplit("/", 1)[-1] == scene.scene_id:
                continue
            reg = register_objects(scene, self.stored_scene(sid))
            if reg.overlap >= min_overlap:
                out.append(SceneMatch(sid, score, reg.overlap, reg.transform, reg.matches))
        return sorted(out, key=lambda m: -m.overlap)[:top_k]

    def duplicates(self, min_overlap: float = 0.7, shortlist: int = 20, progress: bool = True) -> list[tuple[str, SceneMatch]]:
        """Pairs (scene key, match) of indexed scenes that are the same place, each pair once.

        One FAISS search over the stored descriptors, then each shortlisted pair is
        registered once (see :meth:`search_scene`)."""
        from tqdm import tqdm

        ids, vectors = self.vectors()
        if not ids:
            return []
        stored: dict[str, Scene] = {}

        def scene_of(sid: str) -> Scene:
            if sid not in stored:
                stored[sid] = self.stored_scene(sid)
            return stored[sid]

        pairs, seen = [], set()
        for sid, candidates in tqdm(zip(ids, self._shortlist(vectors, shortlist)), total=len(ids),
                                    desc="duplicates", unit="scene", disable=not progress):
            for other, score in candidates:
                key = tuple(sorted((sid, other)))
                if other == sid or key in seen:
                    continue
                seen.add(key)
                reg = register_objects(scene_of(sid), scene_of(other))
                if reg.overlap >= min_overlap:
                    pairs.append((sid, SceneMatch(other, score, reg.overlap, reg.transform, reg.matches)))
        return pairs

    def labels(self) -> frozenset[str]:
        """The object labels of the indexed scenes (cached until the index changes)."""
        gen = self._generation()
        if self._labels[0] != gen:
            self._labels = gen, frozenset(r[0] for r in self.db.execute("SELECT DISTINCT label FROM objects"))
        return self._labels[1]

    def search_text(self, query: str, top_k: int = 10, shortlist: int = 100, object_weight: float = 0.5,
                    fact_weight: float = 1.0, fact_shortlist: int = 100) -> list[SearchHit]:
        """Scenes for a sentence, best first.

        Candidates: a FAISS shortlist of ``shortlist`` scenes by the cosine between the query and each
        scene's embedding, and, when the query states facts (room type, counts, colours, relations:
        :mod:`scene3d.repository.query`), the ``fact_shortlist`` best scenes by cosine plus
        ``fact_weight`` times the share of the facts they satisfy, drawn from the fact index
        (:meth:`_fact_candidates`). Among near-identical rooms the embedding shortlist alone misses
        the one described; the facts find it. Each candidate is then scored by its cosine, plus
        ``object_weight`` times the best cosine between the query and one of its objects, plus
        ``fact_weight`` times its share of the facts. Each hit lists its best-matching objects (at most 3).

        Raises:
            ValueError: an empty query.
        """
        if not query or not query.strip():
            raise ValueError("the query is empty")
        if len(self) == 0:
            return []
        q = self.embedder.embed_texts([query.strip()])[0]
        found = dict(self._shortlist(q[None], shortlist)[0])
        asked = parse_query(query, self.labels()) if fact_weight else QueryFacts()
        if len(asked) and fact_shortlist > 0:
            found.update(self._fact_candidates(q, asked, fact_shortlist, fact_weight))
        marks = ",".join("?" * len(found))
        metas = {key: json.loads(meta) for key, meta in self.db.execute(
            f"SELECT key, meta FROM scenes WHERE key IN ({marks})", list(found))}
        objects: dict[str, list[tuple[int, str, np.ndarray]]] = {}
        for key, oid, label, emb in self.db.execute(
                f"SELECT key, object_id, label, embedding FROM objects WHERE key IN ({marks})", list(found)):
            objects.setdefault(key, []).append((int(oid), label, np.frombuffer(emb, dtype=np.float32)))
        scored = []
        for key, score in found.items():
            evidence, best = 0.0, []
            if key in objects:
                sims = np.stack([e for _, _, e in objects[key]]) @ q
                order = np.argsort(-sims)[:3]
                evidence, best = float(sims[order[0]]), [objects[key][i][:2] for i in order]
            meta = metas[key]
            facts = fact_score(asked, meta.get("facts", {}), meta.get("room_type")) if len(asked) else 0.0
            scored.append((score + object_weight * evidence + fact_weight * facts, key, best))
        scored = sorted(scored, key=lambda t: -t[0])[:top_k]
        return self._hits(scored)

    def _fact_candidates(self, q: np.ndarray, asked: QueryFacts, count: int, fact_weight: float,
                         max_cosines: int = 5000) -> dict[str, float]:
        """The ``count`` scenes with the best cosine + ``fact_weight`` x fact share (:func:`fact_score`) for
        the query embedding ``q`` (D,) and its facts, by key, with their cosines.

        Every scene's fact share comes from the fact index (:meth:`fact_index`); cosines are computed
        for the scenes whose share is at least the ``count``-th best (all ties of it, at most
        ``max_cosines``, chosen arbitrarily among equal shares beyond that; none when no scene meets a fact)."""
        import faiss

        index, keys = self.faiss_index("scenes")
        postings = self.fact_index()
        share = np.zeros(len(keys), np.float32)
        for token, w in query_weights(asked).items():
            if token in postings:
                share[postings[token]] += w / len(asked)
        count = min(count, len(keys))
        kth = np.partition(share, len(keys) - count)[len(keys) - count]
        rows = np.flatnonzero((share >= kth) & (share > 0))  # a scene that meets no fact gains nothing here
        if not len(rows):
            return {}
        if len(rows) > max_cosines:
            rows = rows[np.argpartition(-share[rows], max_cosines - 1)[:max_cosines]]
        if isinstance(index, faiss.IndexIVF) and index.direct_map.type == faiss.DirectMap.NoMap:
            index.make_direct_map()  # IVF: look vectors up by row
        cos = index.reconstruct_batch(rows) @ q
        best = np.argsort(-(cos + fact_weight * share[rows]), kind="stable")[:count]
        return {keys[rows[i]]: float(cos[i]) for i in best}

    def _hits(self, scored: list[tuple[float, str, list[tuple[int, str]]]]) -> list[SearchHit]:
        """SearchHits, with identity, provenance and metadata, of (score, key, [(object id, label), ...]) triples."""
        records = self.records([key for _, key, _ in scored])
        hits = []
        for score, key, best in scored:
            r = records[key]
            hits.append(SearchHit(r.scene_id, score, tuple(o for o, _ in best), key=key,
                                  labels=tuple(label for _, label in best), room_type=r.room_type,
                                  caption=r.caption, path=r.path, source=r.source))
        return hits

    def search_image(self, frame: Frame, teacher, context: Scene | None = None, top_k: int = 5,
                     shortlist: int = 50, candidates: int = 5, min_inliers: int = 12,
                     stop_inliers: int = 20) -> list[ImageHit]:
        """The indexed scenes an image was taken in, with the camera pose, most inliers first.

        The view descriptor of the image shortlists ``shortlist`` indexed views; their first
        ``candidates`` distinct scenes are verified in that order by SIFT matching + PnP RANSAC
        (:func:`scene3d.repository.localize.estimate_pose`); a scene is a hit with at least
        ``min_inliers`` inliers. Verification stops at the first scene with ``stop_inliers`` inliers
        (0: verify all ``candidates``): wrong rooms rarely reach ``min_inliers``, and each costs a
        full RANSAC run. Chosen on 28 generated rooms that no benchmark measures (seeds 50000-50027,
        56 held-out views, each verified against all 28 rooms): the right room gave at least 22 inliers
        (median 81), the 1,512 wrong pairs at most 9. An image that matches no scene gives ``[]``.

        Args:
            frame: the query: ``rgb`` and ``K`` (its ``cam_to_world`` is not used).
            teacher: the teacher the index was built with.
            context: the scene handed to the teacher with the frame; only the label teacher reads it
                (its object labels, with the frame's instance mask: the stand-in for a 2D segmenter on
                synthetic frames). Default: an empty scene.

        Raises:
            LocalizationError: no scene of the index was indexed for image queries.
        """
        if self.db.execute("SELECT 1 FROM views LIMIT 1").fetchone() is None:
            raise LocalizationError(f"{self.path}: no scene is indexed for image queries "
                                    "(index with a teacher: scene3d index ... images=true)")
        desc = query_descriptor(teacher, context or Scene("query"), frame)
        scenes: dict[str, float] = {}
        for sid, score in self._shortlist(desc[None], shortlist, table="views")[0]:
            if sid not in scenes and len(scenes) < candidates:
                scenes[sid] = score
        uv, keys = local_features(frame.rgb)
        hits = []
        for sid, score in scenes.items():
            pose = estimate_pose(uv, keys, self.landmarks(sid), frame.K, min_inliers=min_inliers)
            if pose is not None:
                hits.append(ImageHit(sid, score, pose.inliers, pose.matches, pose.cam_to_world))
                if stop_inliers and pose.inliers >= stop_inliers:
                    break
        return sorted(hits, key=lambda h: (-h.inliers, -h.score))[:top_k]


@dataclass(frozen=True)
class ImageHit:
    """An indexed scene that an image query shows.

    key: the scene's index key; score: the view-descriptor cosine of its nearest view; inliers / matches:
    the PnP RANSAC inliers
    and the ratio-test matches; cam_to_world: (4, 4) the image's camera pose in the scene (metres)."""

    key: str
    score: float
    inliers: int
    matches: int
    cam_to_world: np.ndarray


@dataclass(frozen=True)
class SceneMatch:
    """A scene of the index that seems to be the same place as a query scene.

    key: the indexed scene's key; score: the descriptor cosine; overlap / transform / matches: the object registration
    (see :class:`scene3d.repository.register.Registration`; transform takes the query's
    frame into the indexed scene's)."""

    key: str
    score: float
    overlap: float
    transform: np.ndarray
    matches: tuple[tuple[int, int], ...]


def build_faiss(vectors: np.ndarray, approximate: bool):
    """A FAISS inner-product index over L2-normalised ``vectors`` (M, D): exact (flat), or
    IVF-Flat with about 4 sqrt(M) lists, probing 1/32 of them (at least 32).

    IVF was measured against HNSW on 100k clustered scene descriptors: HNSW (M=32) stalled at
    recall@10 0.81 whatever its search breadth, IVF reached 1.00 at 0.35 ms a query.
    """
    import faiss

    if vectors.ndim != 2:
        raise ConfigError(f"expected (M, D) vectors, got shape {vectors.shape}")
    m, d = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not approximate or m < 1024:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(np.clip(4 * np.sqrt(m), 64, 4096))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(32, nlist // 32)
    if m:
        index.add(vectors)
    return index
