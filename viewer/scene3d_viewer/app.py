"""The interactive web viewer (viser): scenes, grounding results and repository search.

``scene3d view data=DIR [checkpoint=RUN] [index=package.module:function] port=8080`` or::

    viewer = Viewer("runs/synth")   # grounds with the packaged model; checkpoint=<run> for another
    print(viewer.url)               # open it in a browser: each tab is a page of its own
    page = viewer.page(timeout=60)  # the tab used last (waits for one to open)
    page.ground("the chair next to the table")
    page.state.highlighted_object_id

Each browser tab has its own state (:class:`~scene3d_viewer.page.ViewerPage`: scene, query,
colours, result, panel); a new tab opens on the first scene with an empty query, and what one
tab does never changes another. The session id is viser's id of the tab's websocket
connection, carried by every message the tab sends, so nothing is stored in the browser; a
reloaded tab is a new session and starts afresh. The server keeps at most ``max_tabs`` pages
(the least recently used goes first) and closes a page idle for ``tab_idle_s`` seconds (checked
whenever a tab is used or opened); a closed tab shows why and reloads to a fresh page. What tabs
share is read-only or locked: the data folder, the grounding model (one query at a time), the
search.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from pathlib import Path

from scene3d.errors import Scene3DError
from scene3d.grounding import Grounder
from scene3d.io import list_scene_folders, load_scene
from scene3d_viewer.colors import COLOR_MODES
from scene3d_viewer.layers import PointLayers
from scene3d_viewer.layout import first_view
from scene3d_viewer.page import ViewerPage
from scene3d_viewer.sessions import SessionStore
from scene3d_viewer.state import SceneSearch, ViewerError


def _import_viser():
    try:
        import viser
    except ImportError:
        raise ViewerError("the viewer needs viser: pip install -e '.[viewer]' (viser==1.1.1)") from None
    return viser


class Viewer:
    """A viser server showing the scenes of a data folder, one :class:`ViewerPage` per browser tab;
    see the module docstring.

    Args:
        data: a folder of canonical scene folders (``scene3d generate`` / ``import-*``).
        grounder: the grounding model; or None to load ``checkpoint``.
        checkpoint: a grounding run or model folder for :meth:`Grounder.from_checkpoint`; None:
            the model packaged with scene3d. When it cannot be loaded the viewer still starts
            and every page says why.
        search: a repository search (:class:`SceneSearch`); the repository panel is
            shown only with one.
        host: interface to bind; 127.0.0.1 (this machine only) by default.
        port: port to bind; viser takes the next free one when it is busy, 0 = any.
        out: folder for PNG snapshots and HTML exports.
        max_points: at most this many points are sent to a tab (a fixed random subset).
        point_size: the initial point size in metres.
        top_k: candidates shown per query.
        scene_id: the scene a new tab shows first (default: the scene of ``layers``, else the first in sorted order).
        layers: extra colour modes for one scene (:func:`~scene3d_viewer.load_segment_layers` of a
            ``scene3d segment`` folder); every tab offers them after ``COLOR_MODES``.
        max_tabs: at most this many tabs have a page at once; opening one more closes the page
            of the tab used least recently.
        tab_idle_s: a tab's page unused (no click, no typing) for this many seconds is closed.

    Raises:
        ViewerError: viser is not installed.
        SceneFormatError: ``data`` is not a folder of scenes.
    """

    def __init__(self, data: str | Path, *, grounder: Grounder | None = None, checkpoint: str | Path | None = None,
                 search: SceneSearch | None = None, host: str = "127.0.0.1", port: int = 8080,
                 out: str | Path = "runs/view", max_points: int = 300_000, point_size: float = 0.02,
                 top_k: int = 5, scene_id: str | None = None, max_tabs: int = 8, tab_idle_s: float = 3600.0,
                 layers: PointLayers | None = None):
        self.viser = _import_viser()
        self.so3 = self.viser.transforms.SO3
        self.data = Path(data)
        self.folders = {f.name: f for f in list_scene_folders(self.data)}  # grows with hits opened from elsewhere
        self.scene_ids = list(self.folders)
        self.layers = layers
        self.color_modes = COLOR_MODES + (tuple(layers.colors) if layers is not None else ())
        self.first_scene = scene_id or (layers.scene_id if layers is not None else self.scene_ids[0])
        self.out = Path(out)
        self.max_points, self.point_size, self.top_k = max_points, point_size, top_k
        self.search = search
        self.grounder = grounder
        self.model_error: str | None = None  # why ``checkpoint`` did not load, shown in every page
        if grounder is None:
            try:
                self.grounder = Grounder.from_checkpoint(checkpoint)
            except Scene3DError as exc:
                self.model_error = f"grounding model not loaded: {exc}"
        self.model_lock = threading.Lock()
        self.pages: SessionStore[int, ViewerPage] = SessionStore(
            self._open_page, cap=max_tabs, ttl_s=tab_idle_s,
            on_drop=lambda _, page: page.close("this tab's view was closed to free memory (unused the longest)"))
        with contextlib.redirect_stdout(io.StringIO()):   # viser's banner; `scene3d view` prints the address
            self.server = self.viser.ViserServer(host=host, port=port, verbose=False)
        self.server.scene.set_up_direction("+z")
        self._set_initial_camera()
        self.server.on_client_connect(lambda client: self.pages.get(client.client_id))
        self.server.on_client_disconnect(lambda client: self.pages.pop(client.client_id))

    def _open_page(self, client_id: int) -> ViewerPage:
        client = self.server.get_clients().get(client_id)
        if client is None:
            raise ViewerError(f"browser tab {client_id} is not connected")
        return ViewerPage(self, client)

    def _set_initial_camera(self) -> None:
        """New tabs open looking along the first view of the first scene (if it can be read)."""
        try:
            view = first_view(load_scene(self.folders[self.first_scene], frames=False, mesh=False))
        except (Scene3DError, KeyError):
            return  # the page says why when it tries to show it
        self.server.initial_camera.position, self.server.initial_camera.look_at = (
            tuple(float(v) for v in x) for x in view)

    # ----------------------------------------------------------------- serving
    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    def page(self, client_id: int | None = None, timeout: float = 0.0) -> ViewerPage:
        """The page of browser tab ``client_id``, or (None) of the tab used last, waiting up to
        ``timeout`` seconds for a tab to open.

        Raises:
            ViewerError: no such tab (closed, or its page was closed), or no tab opened in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            ids = self.pages.session_ids()
            page = self.pages.peek(client_id if client_id is not None else ids[-1]) if ids else None
            if page is not None:
                return page
            if time.monotonic() >= deadline:
                if client_id is None:
                    raise ViewerError(f"no browser tab is open: open {self.url} in a browser")
                raise ViewerError(f"browser tab {client_id} has no page: it closed, or its page was closed "
                                  f"(at most {self.pages.cap} tabs, each unused at most {self.pages.ttl_s:g} s)")
            time.sleep(0.05)

    def serve_forever(self) -> None:
        """Block until Ctrl-C, then stop the server."""
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Stop the server (the pages show they are disconnected)."""
        self.server.stop()
