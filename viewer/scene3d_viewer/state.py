"""What the viewer shows, inspectable from Python, and the repository-search protocol it accepts."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from scene3d.errors import Scene3DError
from scene3d.structures import GroundingResult, SearchHit


class ViewerError(Scene3DError, ValueError):
    """A viewer request that cannot be served (unknown scene, no model, no browser...).

    The viewer shows the message in the page; the Python API raises it.
    """


class SceneSearch(Protocol):
    """A repository search the viewer's repository panel can call.

    ``search(text, top_k)`` returns at most ``top_k`` hits, best first. The scene
    repository (``scene3d.repository.SceneIndex.search_text``) is one; any callable
    with this signature can be passed to :class:`~scene3d_viewer.Viewer`.
    Without one the repository panel is not shown.
    """

    def __call__(self, text: str, top_k: int) -> Sequence[SearchHit]: ...


def load_search_callable(spec: str) -> SceneSearch:
    """Import a search callable named ``"package.module:function"``.

    Raises:
        ViewerError: ``spec`` is not of that form, cannot be imported, or is not callable.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ViewerError(
            f"index={spec!r} is neither a scene index folder (one with index.sqlite, from scene3d index) "
            "nor a search function package.module:function (called as function(text, top_k) -> "
            "list of scene3d.structures.SearchHit)"
        )
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ViewerError(f"index={spec!r}: cannot import it ({exc})") from None
    if not callable(obj):
        raise ViewerError(f"index={spec!r}: {attr} is not callable")
    return obj


@dataclass
class ViewerState:
    """What one browser tab shows; read it from Python (``viewer.page().state``).

    Attributes:
        scene_ids: the scenes of the data folder, in the picker's order.
        scene_id: the scene shown, or None before one loads.
        color_mode: the point colouring (one of ``scene3d_viewer.COLOR_MODES``).
        result: the last grounding result of the shown scene, or None.
        highlighted_object_id: the grounded top object (``result.best``), or None.
        selected_object_id: the object last clicked in the 3D view, or None.
        hidden_object_ids: objects cut away from the view (ceiling, near walls), not drawn.
        search_hits: the last repository search's hits.
        error: the message shown in the page's error line, or None.
        page_grounding_s: wall time of the last grounding request as served to the page
            (grounding plus scene updates), seconds.
    """

    scene_ids: list[str]
    scene_id: str | None = None
    color_mode: str = "rgb"
    result: GroundingResult | None = None
    highlighted_object_id: int | None = None
    selected_object_id: int | None = None
    hidden_object_ids: set[int] = field(default_factory=set)
    search_hits: list[SearchHit] = field(default_factory=list)
    error: str | None = None
    page_grounding_s: float | None = None
