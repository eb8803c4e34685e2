"""One browser tab of the viewer: its own scene, query, colours, result and panel (:class:`ViewerPage`).

Every tab that opens ``scene3d view``'s address is a viser client with its own GUI and 3D
scene (``client.gui``, ``client.scene``); :class:`~scene3d_viewer.Viewer` keeps one
:class:`ViewerPage` per tab in a bounded :class:`~scene3d_viewer.sessions.SessionStore`. A new
tab opens on the first scene with an empty query; what one tab does never changes another.

The page shows one scene of the data folder at a time: its point cloud (coloured by RGB,
instance, class or grounding relevancy, or by a ``scene3d segment`` folder's labels, feature PCA
and query relevancy for its scene; walls, floor and ceiling in muted greys in the class
mode), the boxes of the objects other than walls, floor and ceiling (click one for its label),
and its camera frames as frusta. The first view looks down on the furniture with the ceiling
and the walls nearest the camera cut away (:mod:`scene3d_viewer.layout`; the "Cut away" box
brings them back). Typing in the query box grounds the sentence with
:class:`~scene3d.grounding.Grounder`: the top object is drawn as a bright box with its label
and score, the next candidates as fainter boxes (their scores are in the side panel's ranked
list), and the relation anchors the model reports in blue with their labels; labels are
stacked so that none covers another in the first view.

Coordinates: world z up, metres; camera frames OpenCV (x right, y down, z forward), which is
also viser's frustum convention. Errors (unknown or unreadable scene, empty query, no model,
no render from the browser) are shown in the tab's error line; the methods also raise
:class:`ViewerError`.
"""

from __future__ import annotations

import contextlib
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
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from scene3d.errors import Scene3DError
from scene3d.io import load_scene
from scene3d.io.atomic import atomic_write_bytes, atomic_write_text
from scene3d.structures import GroundingResult, Scene
from scene3d_viewer.colors import COLOR_MODES, palette, point_colors
from scene3d_viewer.export import inject_panel, result_panel_html
from scene3d_viewer.layout import (
    STRUCTURE_LABELS,
    View,
    cutaway_object_ids,
    first_view,
    label_extent,
    place_labels,
)
from scene3d_viewer.state import ViewerError, ViewerState

if TYPE_CHECKING:
    from scene3d_viewer.app import Viewer

TOP_RGB = (255, 200, 0)
CANDIDATE_RGB = (255, 120, 0)
ANCHOR_RGB = (0, 170, 255)     # relation anchors the model reports
SEARCH_TOP_K = 10  # hits asked of the repository search
EMPTY_QUERY_HTML = ("type a sentence in <b>Query</b>, e.g. <i>the chair next to the table</i>: "
                    "the object it means is highlighted")


def _yaw_wxyz(yaw: float) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) of a rotation by ``yaw`` radians about world +z."""
    return (math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0))


class ViewerPage:
    """The state and panel of one browser tab; made by :class:`~scene3d_viewer.Viewer` when a tab connects.

    Args:
        viewer: the server and what tabs share (data folder, grounding model, search, settings).
        client: the tab's viser client handle.

    Attributes:
        state: what this tab shows (:class:`ViewerState`).
        client_id: the tab's session id (viser's id of its websocket connection).
    """

    def __init__(self, viewer: Viewer, client):
        self.viewer, self.client, self.client_id = viewer, client, client.client_id
        self.state = ViewerState(scene_ids=list(viewer.scene_ids))
        self._lock = threading.RLock()
        self._sc = client.scene         # where the 3D scene is drawn (another server's while exporting)
        self._scene: Scene | None = None
        self._shown: np.ndarray | None = None  # indices of the points sent to the browser
        self._scene_nodes: list = []
        self._label_nodes: dict[int, object] = {}
        self._grounding_nodes: list = []
        self._points = None
        self._view: View | None = None
        self._build_gui(viewer.point_size)
        try:
            self.show_scene(viewer.first_scene)
        except ViewerError:
            pass  # already shown in the page; another scene can be picked
        else:
            if viewer.model_error:
                self._show_error(viewer.model_error)

    def close(self, reason: str) -> None:
        """Take this tab's panel and scene down and say why in its place (the tab stays connected)."""
        with self._lock:
            self.client.scene.reset()
            self.client.gui.reset()
            self.client.gui.add_markdown(f"**scene3d viewer**: {reason}. Reload the page for a fresh view.")

    # ---------------------------------------------------------------------- GUI
    def _build_gui(self, point_size: float) -> None:
        gui = self.client.gui
        gui.add_markdown(f"**scene3d viewer** · `{self.viewer.data}`")
        self._error = gui.add_html(self._error_html(None))
        self._scene_dd = gui.add_dropdown("Scene", options=self.state.scene_ids,
                                          initial_value=self.state.scene_ids[0])
        self._color_dd = gui.add_dropdown(
            "Colour", options=self.viewer.color_modes, initial_value="rgb",
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
        if self.viewer.search is not None:
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
        self._png_btn.on_click(self._guard(lambda _: self._report_saved(self.save_png())))
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
            self.viewer.pages.touch(self.client_id)   # this tab's session is in use: not the next to go
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
            folder = self.viewer.folders.get(scene_id)
            if folder is None:
                self._fail(f"unknown scene {scene_id!r}: {self.viewer.data} holds {', '.join(self.state.scene_ids)}")
            try:
                scene = load_scene(folder, mesh=False)
            except Scene3DError as exc:
                self._fail(f"cannot read scene {scene_id!r}: {exc}")
            self._scene = scene
            self.state.scene_id = scene_id
            self.state.result = None  # the old scene's result must not colour the new scene
            self.state.selected_object_id = None
            if self.state.color_mode not in COLOR_MODES and scene_id != self.viewer.layers.scene_id:
                self.state.color_mode = "rgb"  # the segment= colours belong to one scene only
                self._color_dd.value = "rgb"
            self._draw_scene(scene)
            self._set_result(None)
            self._frame_camera()
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
        if len(kept) > self.viewer.max_points:
            kept = np.sort(np.random.default_rng(0).choice(kept, self.viewer.max_points, replace=False))
        self._shown = None if len(kept) == scene.num_points else kept
        sc = self._sc
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
                image=frame.rgb[::stride, ::stride], wxyz=self.viewer.so3.from_matrix(frame.cam_to_world[:3, :3]).wxyz,
                position=frame.cam_to_world[:3, 3], visible=bool(self._cams_cb.value))
            self._scene_nodes.append(node)
        shown = len(pts)
        cut = f"; cut away: {len(hidden)} (ceiling, near walls)" if hidden else ""
        self._info.content = (f"**{scene.scene_id}** ({scene.meta.room_type or scene.meta.source}): "
                              f"{scene.num_points:,} points ({shown:,} shown), {len(scene.objects)} objects, "
                              f"{len(scene.frames)} cameras{cut}")

    def _frame_camera(self) -> None:
        """Point this tab's camera along the first view of its scene. A tab that has not reported
        its camera yet opens on the server's initial camera, the first view of the first scene."""
        if self.client.camera.update_timestamp:
            self.client.camera.position, self.client.camera.look_at = (tuple(float(v) for v in x) for x in self._view)

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
            colors = self.viewer.layers.colors_for(self._scene, self.state.color_mode)
        return colors if self._shown is None else colors[self._shown]

    def _set_group_visible(self, prefix: str, visible: bool) -> None:
        for node in self._scene_nodes:
            if node.name.startswith(prefix + "/"):
                node.visible = bool(visible)

    def _refresh_labels(self) -> None:
        for oid, node in self._label_nodes.items():
            node.visible = bool(self._labels_cb.value) or oid == self.state.selected_object_id

    def set_color_mode(self, mode: str) -> None:
        """Recolour the points: one of the viewer's ``color_modes`` (``COLOR_MODES``, then those of
        its ``layers``; relevancy uses the last grounding result).

        Raises:
            ViewerError: an unknown mode, no scene shown, or a layer mode on a scene it does not colour.
        """
        with self._lock:
            modes = self.viewer.color_modes
            if mode not in modes:
                self._fail(f"unknown colour mode {mode!r}; choose one of {', '.join(modes)}")
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            if mode not in COLOR_MODES:
                try:
                    self.viewer.layers.colors_for(self._scene, mode)
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
            if self.viewer.grounder is None:
                self._set_result(None)
                self._fail(self.viewer.model_error)
            if not query or not query.strip():
                self._set_result(None)
                self._fail("the query is empty: type a sentence")
            with self.viewer.model_lock:   # one model, shared by the tabs
                result = self.viewer.grounder.ground(self._scene, query, top_k=self.viewer.top_k)
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
        sc = self._sc
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
            elif self.viewer.grounder is None:
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
            if self.viewer.search is None:
                self._fail("no repository search: start the viewer with index=<scene index folder> "
                           "(scene3d index), or pass search= to Viewer")
            if not text or not text.strip():
                self._fail("the search text is empty")
            hits = list(self.viewer.search(text.strip(), SEARCH_TOP_K))
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
        here = self.viewer.folders.get(hit.scene_id)
        if here is not None and (not hit.path or Path(hit.path).resolve() == here.resolve()):
            return hit.scene_id
        if hit.path and (Path(hit.path) / "scene.json").is_file():
            name = hit.key or hit.scene_id
            if name not in self.viewer.folders:
                self.viewer.folders[name] = Path(hit.path)
                self.state.scene_ids.append(name)
                self._scene_dd.options = self.state.scene_ids
            return name
        return None

    def _open_hit(self) -> None:
        if self._hit_dd.value == "-":
            self._fail("no hit to open: search first")
        self.show_scene(self._hit_dd.value)

    # ---------------------------------------------------------------- snapshots
    def save_png(self, path: str | Path | None = None, *, height: int = 720,
                 width: int = 1280, timeout: float = 30.0) -> Path:
        """Ask this tab to render its current view and save it as a PNG (atomic).

        Args:
            path: the file (default ``<out>/<scene>_<time>.png``).
            height / width: the render size in pixels.
            timeout: seconds to wait for the render.

        Raises:
            ViewerError: the tab sent no render within ``timeout`` (or closed).
        """
        try:
            image = self.client.get_render(height=height, width=width, transport_format="png", timeout=timeout)
        except TimeoutError:
            self._fail(f"the browser sent no render within {timeout:g} s")
        except RuntimeError as exc:   # the tab closed before it answered
            self._fail(f"the browser tab sent no render: {exc}")
        path = Path(path) if path is not None else self.viewer.out / f"{self.state.scene_id}_{_stamp()}.png"
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        return path

    def export_html(self, path: str | Path | None = None) -> Path:
        """Write the shown scene and grounding result as one self-contained HTML file (atomic).

        The file embeds viser's offline client and the current 3D scene (points, boxes,
        highlights, cameras) plus a panel with the query and ranked objects; it opens
        without a server or network. See :mod:`scene3d_viewer.export`.

        Raises:
            ViewerError: no scene is shown.
        """
        with self._lock:
            if self._scene is None:
                self._fail("no scene is shown; pick one")
            doc = inject_panel(self._scene_html(), result_panel_html(self._scene.scene_id, self.state.result))
            path = Path(path) if path is not None else self.viewer.out / f"{self._scene.scene_id}_{_stamp()}.html"
            atomic_write_text(path, doc)
            return path

    def _scene_html(self) -> str:
        """This tab's 3D scene as viser's self-contained HTML. viser serialises only a server's
        shared scene, so the tab's scene is drawn again into a private server bound to
        127.0.0.1 (port chosen by the system, stopped at once)."""
        with contextlib.redirect_stdout(io.StringIO()):   # viser's start-up banner
            server = self.viewer.viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
        tab = self._sc, self._scene_nodes, self._label_nodes, self._grounding_nodes, self._points
        try:
            server.scene.set_up_direction("+z")
            server.initial_camera.position, server.initial_camera.look_at = (
                tuple(float(v) for v in x) for x in self._view)
            self._sc, self._scene_nodes, self._label_nodes, self._grounding_nodes = server.scene, [], {}, []
            self._draw_scene(self._scene)
            self._set_result(self.state.result)
            return server.scene.as_html()
        finally:
            self._sc, self._scene_nodes, self._label_nodes, self._grounding_nodes, self._points = tab
            with contextlib.redirect_stdout(io.StringIO()):
                server.stop()


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
