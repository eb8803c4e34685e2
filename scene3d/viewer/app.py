"""The interactive web viewer (viser): scenes, grounding results and repository search.

``scene3d view data=DIR [checkpoint=RUN] [index=package.module:function] port=8080`` or::

    viewer = Viewer("runs/synth")      # grounds with the packaged model; checkpoint=<run> for another
    print(viewer.url)            # open it in a browser
    viewer.ground("the chair next to the table")
    viewer.state.highlighted_object_id

The page shows one scene of the data folder at a time: its point cloud (coloured by
RGB, instance, class or grounding relevancy, or by a ``scene3d segment`` folder's labels, feature
PCA and query relevancy for its scene; walls, floor and ceiling in muted greys in the
class mode), the boxes of the objects other than walls, floor and ceiling (click one for its
label), and its camera frames as frusta.
The first view looks down on the furniture with the ceiling and the walls nearest the camera
cut away (:mod:`scene3d.viewer.layout`; the "Cut away" box brings them back). Typing in the
query box grounds the sentence with :class:`~scene3d.grounding.Grounder`: the top object is
drawn as a bright box with its label and score, the next candidates as fainter boxes (their
scores are in the side panel's ranked list), and the relation anchors the model reports in
blue with their labels; labels are stacked so that none covers another in the first view.

Coordinates: world z up, metres; camera frames OpenCV (x right, y down, z forward),
which is also viser's frustum convention. All clients share one view state (one user).
Errors (unknown or unreadable scene, empty query, no model, no browser for a PNG)
are shown in the page's error line; the Python methods also raise :class:`ViewerError`.
"""

from __future__ import annotations

import html
import io
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from scene3d.errors import Scene3DError
from scene3d.grounding import Grounder
from scene3d.io import list_scene_folders, load_scene
from scene3d.io.atomic import atomic_write_bytes, atomic_write_text
from scene3d.structures import GroundingResult, Scene
from scene3d.viewer.colors import COLOR_MODES, palette, point_colors
from scene3d.viewer.export import inject_panel, result_panel_html
from scene3d.viewer.layers import PointLayers
from scene3d.viewer.layout import (
    STRUCTURE_LABELS,
    View,
    cutaway_object_ids,
    first_view,
    label_extent,
    place_labels,
)
from scene3d.viewer.state import SceneSearch, ViewerError, ViewerState

TOP_RGB = (255, 200, 0)
CANDIDATE_RGB = (255, 120, 0)
ANCHOR_RGB = (0, 170, 255)     # relation anchors the model reports
SEARCH_TOP_K = 10  # hits asked of the repository search
EMPTY_QUERY_HTML = ("type a sentence in <b>Query</b>, e.g. <i>the chair next to the table</i>: "
                    "the object it means is highlighted")


def _import_viser():
    try:
        import viser
    except ImportError:
        raise ViewerError("the viewer needs viser: pip install -e '.[viewer]' (viser==1.1.1)") from None
    return viser


def _yaw_wxyz(yaw: float) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) of a rotation by ``yaw`` radians about world +z."""
    return (math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0))


class Viewer:
    """A viser server showing the scenes of a data folder; see the module docstring.

    Args:
        data: a folder of canonical scene folders (``scene3d generate`` / ``import-*``).
        grounder: the grounding model; or None to load ``checkpoint``.
        checkpoint: a grounding run or model folder for :meth:`Grounder.from_checkpoint`; None:
            the model packaged with scene3d. When it cannot be loaded the viewer still starts
            and the page says why.
        search: a repository search (:class:`SceneSearch`); the repository panel is
            shown only with one.
        host: interface to bind; 127.0.0.1 (this machine only) by default.
        port: port to bind; viser takes the next free one when it is busy, 0 = any.
        out: folder for PNG snapshots and HTML exports.
        max_points: at most this many points are sent to the browser (a fixed random subset).
        point_size: point size in metres.
        top_k: candidates shown per query.
        scene_id: the scene shown first (default: the scene of ``layers``, else the first in sorted order).
        layers: extra colour modes for one scene (:func:`~scene3d.viewer.layers.load_segment_layers`
            of a ``scene3d segment`` folder); offered after ``COLOR_MODES``.

    Raises:
        ViewerError: viser is not installed.
        SceneFormatError: ``data`` is not a folder of scenes.
    """

    def __init__(self, data: str | Path, *, grounder: Grounder | None = None, checkpoint: str | Path | None = None,
                 search: SceneSearch | None = None, host: str = "127.0.0.1", port: int = 8080,
                 out: str | Path = "runs/view", max_points: int = 300_000, point_size: float = 0.02,
                 top_k: int = 5, scene_id: str | None = None, layers: PointLayers | None = None):
        viser = _import_viser()
        self._so3 = viser.transforms.SO3
        self.data = Path(data)
        self._folders = {f.name: f for f in list_scene_folders(self.data)}
        self.state = ViewerState(scene_ids=list(self._folders))
        self.out = Path(out)
        self.max_points = max_points
        self.top_k = top_k
        self.search = search
        self.layers = layers
        self.color_modes = COLOR_MODES + (tuple(layers.colors) if layers is not None else ())
        self.grounder = grounder
        self.model_error: str | None = None  # why ``checkpoint`` did not load, shown in the page
        if grounder is None:
            try:
                self.grounder = Grounder.from_checkpoint(checkpoint)
            except Scene3DError as exc:
                self.model_error = f"grounding model not loaded: {exc}"
        self._lock = threading.RLock()
        self._scene: Scene | None = None
        self._shown: np.ndarray | None = None  # indices of the points sent to the browser
        self._scene_nodes: list = []
        self._label_nodes: dict[int, object] = {}
        self._grounding_nodes: list = []
        self._points = None
        self._view: View | None = None
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.server.scene.set_up_direction("+z")
        self._build_gui(point_size)
        first = scene_id or (layers.scene_id if layers is not None else self.state.scene_ids[0])
        try:
            self.show_scene(first)
        except ViewerError:
            pass  # already shown in the page; another scene can be picked
        else:
            if self.model_error:
                self._show_error(self.model_error)

    # ----------------------------------------------------------------- serving
    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

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
        """Stop the server (the page shows it is disconnected)."""
        self.server.stop()

    # ---------------------------------------------------------------------- GUI
    def _build_gui(self, point_size: float) -> None:
        gui = self.server.gui
        gui.add_markdown(f"**scene3d viewer** · `{self.data}`")
        self._error = gui.add_html(self._error_html(None))
        self._scene_dd = gui.add_dropdown("Scene", options=self.state.scene_ids,
                                          initial_value=self.state.scene_ids[0])
        self._color_dd = gui.add_dropdown(
            "Colour", options=self.color_modes, initial_value="rgb",
            hint="relevancy = each object's grounding score over the top score; segment, feature pca and "
                 "query relevancy come from a scene3d segment folder (segment=)")
        self._size = gui.add_slider("Point size", min=0.002, max=0.06, step=0.002, initial_value=point_size)
        self._boxes_cb = gui.add_checkbox("Boxes", True)
        self._labels_cb = gui.add_checkbox("All labels", False, hint="click a box to show its label")
        self._cams_cb = gui.add_checkbox("Cameras", True)
        self._cut_cb = gui.add_checkbox("Cut away", True, hint="hide the ceiling and the walls nearest the first view")
        self._info = gui.add_markdown("")
        with gui.add_folder("Grounding"):
            self._query = gui.add_text("Query", initial_value="", hint="a sentence; grounds as you type")
            self._ground_btn = gui.add_button("Ground")
            self._highlight = gui.add_html(self._highlight_html())
            self._ranked = gui.add_markdown("")
        if self.search is not None:
            with gui.add_folder("Repository"):
                self._search_text = gui.add_text("Search", initial_value="", hint="text search over the repository")
                self._search_btn = gui.add_button("Search repository")
                self._hits = gui.add_markdown("")
                self._hit_dd = gui.add_dropdown("Hit", options=["-"], initial_value="-")
                self._open_btn = gui.add_button("Open hit")
            self._search_btn.on_click(self._guard(lambda _: self.search_repository(self._search_text.value)))
            self._open_btn.on_click(self._guard(lambda _: self._open_hit()))
        with gui.add_folder("Snapshot"):
            self._png_btn = gui.add_button("Save PNG")
            self._html_btn = gui.add_button("Export HTML")
            self._saved = gui.add_markdown("")

        self._scene_dd.on_update(self._guard(self._on_scene_picked))
        self._color_dd.on_update(self._guard(self._on_color_picked))
        self._size.on_update(self._guard(self._on_point_size))
        self._boxes_cb.on_update(self._guard(lambda _: self._set_group_visible("/scene/objects", self._boxes_cb.value)))
        self._labels_cb.on_update(self._guard(lambda _: self._refresh_labels()))
        self._cams_cb.on_update(self._guard(lambda _: self._set_group_visible("/scene/cameras", self._cams_cb.value)))
        self._cut_cb.on_update(self._guard(lambda _: self.set_cutaway(self._cut_cb.value)))
        self._query.on_update(self._guard(self._on_query_typed))
        self._ground_btn.on_click(self._guard(lambda _: self.ground(self._query.value)))
        self._png_btn.on_click(self._guard(lambda e: self._report_saved(self.save_png(client=e.client))))
        self._html_btn.on_click(self._guard(lambda _: self._report_saved(self.export_html())))

    def _on_scene_picked(self, _event) -> None:
        if self._scene_dd.value != self.state.scene_id:
            self.show_scene(self._scene_dd.value)

    def _on_color_picked(self, _event) -> None:
        if self._color_dd.value != self.state.color_mode:
            self.set_color_mode(self._color_dd.value)

    def _on_point_size(self, _event) -> None:
        if self._points is not None:
            self._points.point_size = float(self._size.value)

    def _guard(self, fn: Callable) -> Callable:
        """Wrap a GUI callback: any error is shown in the page instead of killing the callback."""
        def run(event) -> None:
            try:
                fn(event)
            except Scene3DError as exc:  # ViewerError included (showing it again is harmless)
                self._show_error(str(exc))
            except Exception as exc:  # noqa: BLE001 - the UI boundary: report it, keep the page alive
                traceback.print_exc(file=sys.stderr)
                self._show_error(f"internal error: {type(exc).__name__}: {exc}")
        return run

    @staticmethod
    def _error_html(message: str | None) -> str:
        if not message:
            return '<div id="scene3d-error" data-error=""></div>'
        text = html.escape(message)
        return (f'<div id="scene3d-error" data-error="{text}" style="color:#c62828;font-size:0.85em">'
                f"&#9888; {text}</div>")

    def _show_error(self, message: str | None) -> None:
        self.state.error = message
        self._error.content = self._error_html(message)

    def _fail(self, message: str) -> None:
        """Show ``message`` in the page and raise it as a ViewerError."""
        self._show_error(message)
        raise ViewerError(message)

    def _report_saved(self, path: Path) -> None:
        self._saved.content = f"saved `{path}`"

    # ------------------------------------------------------------------- scenes
    def show_scene(self, scene_id: str) -> Scene:
        """Load ``scene_id`` from the data folder and show it (clears the grounding result).

        Raises:
            ViewerError: the scene is not in the data folder or cannot be read.
        """
        with self._lock:
            folder = self._folders.get(scene_id)
            if folder is None:
                self._fail(f"unknown scene {scene_id!r}: {self.data} holds {', '.join(self.state.scene_ids)}")
            try:
                scene = load_scene(folder, mesh=False)
            except Scene3DError as exc:
                self._fail(f"cannot read scene {scene_id!r}: {exc}")
            self._scene = scene
            self.state.scene_id = scene_id
            self.state.result = None  # the old scene's result must not colour the new scene
            self.state.selected_object_id = None
            if self.state.color_mode not in COLOR_MODES and scene_id != self.layers.scene_id:
                self.state.color_mode = "rgb"  # the segment= colours belong to one scene only
                self._color_dd.value = "rgb"
            self._draw_scene(scene)
            self._set_result(None)
            self._show_error(None)
            if self._scene_dd.value != scene_id:
                self._scene_dd.value = scene_id
            return scene

    def _draw_scene(self, scene: Scene) -> None:
        for node in self._scene_nodes:
            node.remove()
        self._scene_nodes, self._label_nodes = [], {}
        self._view = first_view(scene)
        hidden = cutaway_object_ids(scene, self._view) if self._cut_cb.value else set()
        self.state.hidden_object_ids = hidden
        keep = ~np.isin(scene.instance_ids, sorted(hidden)) if hidden else np.ones(scene.num_points, bool)
        kept = np.flatnonzero(keep)
        if len(kept) > self.max_points:
            kept = np.sort(np.random.default_rng(0).choice(kept, self.max_points, replace=False))
        self._shown = None if len(kept) == scene.num_points else kept
        sc = self.server.scene
        pts = scene.points if self._shown is None else scene.points[self._shown]
        self._points = sc.add_point_cloud("/scene/points", pts, self._colors(), point_size=float(self._size.value),
                                          point_shape="circle", precision="float32")
        self._scene_nodes.append(self._points)
        labels = scene.label_set()
        class_rgb = palette(len(labels))
        for obj in scene.objects:
            if obj.object_id in hidden or obj.label in STRUCTURE_LABELS:   # the room's shell: points only
                continue
            box = obj.oriented_box
            rgb = tuple(int(c) for c in class_rgb[labels.index(obj.label)])
            node = sc.add_box(f"/scene/objects/{obj.object_id}", color=rgb, dimensions=tuple(box.size),
                              wireframe=True, position=tuple(box.center), wxyz=_yaw_wxyz(box.yaw),
                              visible=bool(self._boxes_cb.value))
            node.on_click(self._guard(lambda _, oid=obj.object_id: self.select_object(oid)))
            label = sc.add_label(f"/scene/labels/{obj.object_id}", f"{obj.object_id} {obj.label}",
                                 position=tuple(box.center + [0.0, 0.0, box.size[2] / 2.0]),
                                 visible=bool(self._labels_cb.value), font_screen_scale=0.8)
            self._label_nodes[obj.object_id] = label
            self._scene_nodes += [node, label]
        for frame in scene.frames:
            stride = max(1, math.ceil(frame.width / 96))
            node = sc.add_camera_frustum(
                f"/scene/cameras/{frame.name}", fov=2.0 * math.atan(frame.height / (2.0 * frame.K[1, 1])),
                aspect=frame.width / frame.height, scale=0.15, thickness=0.01, color=(60, 60, 200),
                image=frame.rgb[::stride, ::stride], wxyz=self._so3.from_matrix(frame.cam_to_world[:3, :3]).wxyz,
                position=frame.cam_to_world[:3, 3], visible=bool(self._cams_cb.value))
            self._scene_nodes.append(node)
        self._frame_camera()
        shown = len(pts)
        cut = f"; cut away: {len(hidden)} (ceiling, near walls)" if hidden else ""
        self._info.content = (f"**{scene.scene_id}** ({scene.meta.room_type or scene.meta.source}): "
                              f"{scene.num_points:,} points ({shown:,} shown), {len(scene.objects)} objects, "
                              f"{len(scene.frames)} cameras{cut}")

    def _frame_camera(self) -> None:
        """Point the initial camera (and every open page's) along the first view."""
        position, look_at = (tuple(float(v) for v in x) for x in self._view)
        self.server.initial_camera.position = position
        self.server.initial_camera.look_at = look_at
        for client in self.server.get_clients().values():
            client.camera.position = position
            client.camera.look_at = look_at

    def set_cutaway(self, on: bool) -> None:
        """Hide (True) or show the ceiling and the walls nearest the first view; redraws the scene
        (the grounding result stays).

        Raises:
            ViewerError: no scene shown.
        """
        with self._lock:
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            if self._cut_cb.value != bool(on):
                self._cut_cb.value = bool(on)
            self._draw_scene(self._scene)
            self._set_result(self.state.result)

    def _colors(self) -> np.ndarray:
        if self.state.color_mode in COLOR_MODES:
            colors = point_colors(self._scene, self.state.color_mode, self.state.result)
        else:
            colors = self.layers.colors_for(self._scene, self.state.color_mode)
        return colors if self._shown is None else colors[self._shown]

    def _set_group_visible(self, prefix: str, visible: bool) -> None:
        for node in self._scene_nodes:
            if node.name.startswith(prefix + "/"):
                node.visible = bool(visible)

    def _refresh_labels(self) -> None:
        for oid, node in self._label_nodes.items():
            node.visible = bool(self._labels_cb.value) or oid == self.state.selected_object_id

    def set_color_mode(self, mode: str) -> None:
        """Recolour the points: one of ``color_modes`` (``COLOR_MODES``, then those of ``layers``;
        relevancy uses the last grounding result).

        Raises:
            ViewerError: an unknown mode, no scene shown, or a layer mode on a scene it does not colour.
        """
        with self._lock:
            if mode not in self.color_modes:
                self._fail(f"unknown colour mode {mode!r}; choose one of {', '.join(self.color_modes)}")
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            if mode not in COLOR_MODES:
                try:
                    self.layers.colors_for(self._scene, mode)
                except ViewerError as exc:
                    self._fail(str(exc))
            self.state.color_mode = mode
            self._points.colors = self._colors()
            if self._color_dd.value != mode:
                self._color_dd.value = mode
            if mode == "relevancy" and self.state.result is None:
                self._show_error("relevancy needs a grounding result: type a query")

    def select_object(self, object_id: int) -> None:
        """Show the label and box of one object of the current scene (what a click on its box does).

        Raises:
            ViewerError: no such object in the scene shown.
        """
        with self._lock:
            if self._scene is None or object_id not in self._label_nodes:
                self._fail(f"object {object_id} is not in scene {self.state.scene_id!r}")
            self.state.selected_object_id = object_id
            self._refresh_labels()
            obj = self._scene.object(object_id)
            c, s = np.round(obj.box.center, 2).tolist(), np.round(obj.box.size, 2).tolist()
            self._info.content = (self._info.content.split("\n\n")[0]
                                  + f"\n\nselected: object {object_id} **{obj.label}**, centre {c} m, size {s} m")

    # ---------------------------------------------------------------- grounding
    def _on_query_typed(self, _event) -> None:
        text = self._query.value
        with self._lock:
            if text != self._query.value:
                return  # a later keystroke superseded this one
            self.ground(text)

    def ground(self, query: str) -> GroundingResult:
        """Ground ``query`` in the scene shown and highlight the result in the page.

        Returns:
            The :class:`GroundingResult` (the same as ``Grounder.ground(scene, query, top_k)``).

        Raises:
            ViewerError: no scene shown, no model, or an empty query (the old highlight is cleared).
        """
        t0 = time.perf_counter()
        with self._lock:
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            if self.grounder is None:
                self._set_result(None)
                self._fail(self.model_error)
            if not query or not query.strip():
                self._set_result(None)
                self._fail("the query is empty: type a sentence")
            result = self.grounder.ground(self._scene, query, top_k=self.top_k)
            self._set_result(result)
            self._show_error(None)
            self.state.page_grounding_s = time.perf_counter() - t0
            return result

    def _set_result(self, result: GroundingResult | None) -> None:
        self.state.result = result
        best = result.best if result is not None else None
        self.state.highlighted_object_id = best.object_id if best is not None else None
        for node in self._grounding_nodes:
            node.remove()
        self._grounding_nodes = []
        sc = self.server.scene
        ranked = result.ranked if result is not None else []
        anchors = result.anchors if result is not None else []
        for rank, r in enumerate(ranked):
            top = rank == 0
            pad = 0.04 if top else 0.02
            self._grounding_nodes.append(sc.add_box(
                f"/grounding/{rank}/box", color=TOP_RGB if top else CANDIDATE_RGB, dimensions=tuple(r.box.size + pad),
                opacity=0.45 if top else 0.15, position=tuple(r.box.center), wxyz=_yaw_wxyz(r.box.yaw),
                cast_shadow=False, receive_shadow=False))
        for k, a in enumerate(anchors):
            self._grounding_nodes.append(sc.add_box(
                f"/grounding/anchor_{k}/box", color=ANCHOR_RGB, dimensions=tuple(a.box.size + 0.03), opacity=0.3,
                position=tuple(a.box.center), wxyz=_yaw_wxyz(a.box.yaw), cast_shadow=False, receive_shadow=False))
        # labels: the top answer and the anchors only (the candidates' scores are in the side panel)
        labelled = ([("/grounding/0/label", f"#1 {ranked[0].label} ({ranked[0].object_id}) {ranked[0].score:.2f}",
                      ranked[0].box, 1.1)] if ranked else [])
        labelled += [(f"/grounding/anchor_{k}/label", f"anchor: {a.label} ({a.object_id})", a.box, 0.8)
                     for k, a in enumerate(anchors)]
        if labelled and self._view is not None:
            tops = np.array([box.center + [0.0, 0.0, box.size[2] / 2.0 + 0.05] for _, _, box, _ in labelled])
            sizes = np.array([label_extent(text, self._view, scale) for _, text, _, scale in labelled])
            for (name, text, _, scale), pos in zip(labelled, place_labels(tops, sizes, self._view)):
                self._grounding_nodes.append(sc.add_label(name, text, position=tuple(pos), font_screen_scale=scale,
                                                          anchor="bottom-center"))
        if self._points is not None and self.state.color_mode == "relevancy":
            self._points.colors = self._colors()
        self._highlight.content = self._highlight_html()
        self._ranked.content = ("\n".join(["| # | object | label | score |", "|---|---|---|---|"]
                                          + [f"| {i} | {r.object_id} | {r.label} | {r.score:.3f} |"
                                             for i, r in enumerate(result.ranked, 1)])
                                if result is not None and result.ranked else "")
        if result is not None and result.anchors:
            self._ranked.content += "\n\n**anchors:** " + ", ".join(
                f"{a.label} ({a.object_id}) {a.score:.2f}" for a in result.anchors)

    def _highlight_html(self) -> str:
        """The page element the browser test reads: the highlighted object's id, label and score."""
        result = self.state.result
        best = result.best if result is not None else None
        if best is None:
            if result is not None:
                text = "this scene has no objects to ground"
            elif self.grounder is None:
                text = "grounding is off: no model loaded (see the error line)"
            else:
                text = EMPTY_QUERY_HTML
            return f'<div id="scene3d-highlight" data-object-id="">{text}</div>'
        q = html.escape(result.query)
        return (f'<div id="scene3d-highlight" data-object-id="{best.object_id}" data-label="{html.escape(best.label)}" '
                f'data-score="{best.score:.4f}" data-query="{q}"><b>top:</b> object {best.object_id} &middot; '
                f"{html.escape(best.label)} &middot; {best.score:.3f} <span style='opacity:0.6'>"
                f"({result.seconds * 1000:.0f} ms)</span>{self._low_confidence_html(result)}</div>")

    @staticmethod
    def _low_confidence_html(result: GroundingResult) -> str:
        if not result.low_confidence:
            return ""
        return ("<br><span style='color:#b45309'>low confidence: the query seems to name nothing in this scene "
                f"(best class match {result.class_match:.2f})</span>")

    # --------------------------------------------------------------- repository
    def search_repository(self, text: str) -> list:
        """Run the repository search and list its hits in the page.

        Raises:
            ViewerError: no search was given, or an empty text.
        """
        with self._lock:
            if self.search is None:
                self._fail("no repository search: start the viewer with index=<scene index folder> "
                           "(scene3d index), or pass search= to Viewer")
            if not text or not text.strip():
                self._fail("the search text is empty")
            hits = list(self.search(text.strip(), SEARCH_TOP_K))
            self.state.search_hits = hits
            names = [self._openable(h) for h in hits]
            rows = [f"| {h.key or h.scene_id} | {h.room_type or '-'} | {h.score:.3f} | "
                    f"{', '.join(h.labels or map(str, h.object_ids)) or '-'} |"
                    + ("" if name else " (not in this data folder)") for h, name in zip(hits, names)]
            self._hits.content = ("\n".join(["| scene | room | score | matched |", "|---|---|---|---|", *rows])
                                  if hits else "no hits")
            openable = [name for name in names if name]
            self._hit_dd.options = openable or ["-"]
            self._hit_dd.value = (openable or ["-"])[0]
            self._show_error(None)
            return hits

    def _openable(self, hit) -> str | None:
        """The picker name a hit opens under: its scene id when the data folder holds it, else its key
        when its indexed folder (``hit.path``) exists elsewhere (that folder joins the picker); None
        when it cannot be opened."""
        here = self._folders.get(hit.scene_id)
        if here is not None and (not hit.path or Path(hit.path).resolve() == here.resolve()):
            return hit.scene_id
        if hit.path and (Path(hit.path) / "scene.json").is_file():
            name = hit.key or hit.scene_id
            if name not in self._folders:
                self._folders[name] = Path(hit.path)
                self.state.scene_ids.append(name)
                self._scene_dd.options = self.state.scene_ids
            return name
        return None

    def _open_hit(self) -> None:
        if self._hit_dd.value == "-":
            self._fail("no hit to open: search first")
        self.show_scene(self._hit_dd.value)

    # ---------------------------------------------------------------- snapshots
    def save_png(self, path: str | Path | None = None, *, client=None, height: int = 720,
                 width: int = 1280) -> Path:
        """Ask a connected page to render the current view and save it as a PNG (atomic).

        Args:
            path: the file (default ``<out>/<scene>_<time>.png``).
            client: the viser client to ask (default: the first connected page).
            height / width: the render size in pixels.

        Raises:
            ViewerError: no page is connected, or it sent no render within 30 s.
        """
        clients = self.server.get_clients()
        if client is None:
            if not clients:
                self._fail("no browser is connected: open the page, then save the PNG")
            client = clients[min(clients)]
        try:
            image = client.get_render(height=height, width=width, transport_format="png", timeout=30.0)
        except TimeoutError:
            self._fail("the browser sent no render within 30 s")
        path = Path(path) if path is not None else self.out / f"{self.state.scene_id}_{_stamp()}.png"
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        return path

    def export_html(self, path: str | Path | None = None) -> Path:
        """Write the shown scene and grounding result as one self-contained HTML file (atomic).

        The file embeds viser's offline client and the current 3D scene (points, boxes,
        highlights, cameras) plus a panel with the query and ranked objects; it opens
        without a server or network. See :mod:`scene3d.viewer.export`.

        Raises:
            ViewerError: no scene is shown.
        """
        with self._lock:
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            doc = inject_panel(self.server.scene.as_html(),
                               result_panel_html(self._scene.scene_id, self.state.result))
            path = Path(path) if path is not None else self.out / f"{self._scene.scene_id}_{_stamp()}.html"
            atomic_write_text(path, doc)
            return path


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
