"""Whether a scene's stored ``graph.json`` is current, and reading it when it is.

``scene3d graph`` records in each graph.json what it was built from (``built_from``): the
scene3d version, the viewpoint mode and the SHA-256 of the scene files the graph depends on
(:func:`scene3d.io.scene_file_digests`: ``scene.json``, ``points.ply``, and
``frames/frames.json`` when the viewpoint is the first frame's camera); the relation thresholds
are stored as the graph's ``config``. A stored graph is **current** for a request
``(config, viewpoint)`` when its file format is this scene3d's, the scene3d version, the
viewpoint mode and the thresholds equal the request, and the scene files still have the recorded
digests. Anything else (no file, an unreadable or older file, other settings, a changed scene)
is a reason to rebuild, and :func:`read_current_graph` names it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import scene3d
from scene3d.errors import SceneFormatError
from scene3d.graph.config import RelationConfig
from scene3d.graph.scene_graph import FORMAT, VERSION, SceneGraph
from scene3d.io import scene_file_digests
from scene3d.io._json import read_json

GRAPH_FILE = "graph.json"


def graph_inputs(folder: str | Path, viewpoint: str) -> dict:
    """The ``built_from`` record of a graph of the scene in ``folder`` built with ``viewpoint``
    (``"first_frame"`` or ``"none"``): scene3d version, viewpoint mode, scene file digests."""
    return {"scene3d": scene3d.__version__, "viewpoint": viewpoint,
            "files": scene_file_digests(folder, frames=viewpoint == "first_frame")}


def read_current_graph(folder: str | Path, config: RelationConfig, viewpoint: str) -> tuple[SceneGraph | None, str]:
    """``(graph, "current")`` when ``<folder>/graph.json`` is current for ``(config, viewpoint)``
    (see the module doc), else ``(None, reason)``, the reason one of "no graph.json", "unreadable
    graph.json", "older graph.json format", "no build record" (saved without ``built_from``),
    "other scene3d version", "other graph settings", "scene files changed"."""
    path = Path(folder) / GRAPH_FILE
    if not path.is_file():
        return None, "no graph.json"
    try:
        data = read_json(path)
    except SceneFormatError:
        return None, "unreadable graph.json"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None, "unreadable graph.json"
    if data.get("version") != VERSION:
        return None, "older graph.json format"
    built = data.get("built_from")
    if not isinstance(built, dict):  # saved by SceneGraph.save without built_from
        return None, "no build record"
    if built.get("scene3d") != scene3d.__version__:
        return None, "other scene3d version"
    if built.get("viewpoint") != viewpoint or data.get("config") != json.loads(json.dumps(asdict(config))):
        return None, "other graph settings"
    if built.get("files") != scene_file_digests(folder, frames=viewpoint == "first_frame"):
        return None, "scene files changed"
    try:
        return SceneGraph.from_json(data, path), "current"
    except SceneFormatError:
        return None, "unreadable graph.json"
