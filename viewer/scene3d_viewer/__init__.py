"""The web viewer of scenes, grounding results and repository search (``scene3d view``).

The colourings, the export panel, the state and the per-tab session store need only numpy; :class:`Viewer` needs
the optional ``viewer`` extra (``pip install -e '.[viewer]'``, viser 1.1.1) and raises
:class:`ViewerError` with that hint when it is missing.
"""

from scene3d_viewer.app import Viewer
from scene3d_viewer.colors import (
    COLOR_MODES,
    class_colors,
    class_table,
    heat_colors,
    instance_colors,
    palette,
    point_colors,
    relevancy,
)
from scene3d_viewer.export import inject_panel, result_panel_html
from scene3d_viewer.layers import LAYER_MODES, PointLayers, load_segment_layers
from scene3d_viewer.page import ViewerPage
from scene3d_viewer.sessions import SessionStore
from scene3d_viewer.state import (
    SceneSearch,
    SearchHit,
    ViewerError,
    ViewerState,
    load_search_callable,
)

__all__ = [
    "COLOR_MODES", "LAYER_MODES", "PointLayers", "SceneSearch", "SearchHit", "SessionStore", "Viewer", "ViewerError",
    "ViewerPage", "ViewerState", "class_colors", "class_table", "heat_colors", "inject_panel", "instance_colors",
    "load_search_callable", "load_segment_layers", "palette", "point_colors", "relevancy", "result_panel_html",
]
