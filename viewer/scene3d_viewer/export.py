"""Self-contained HTML export: viser's offline client with the scene embedded, plus the grounding result.

viser 1.1.1 serializes the current 3D scene into its prebuilt single-file client
(``server.scene.as_html()``: about 0.8 MB of inlined JavaScript plus the scene,
zstd-compressed and base64-encoded); it needs no network to open. Its GUI panel is
not part of that export, so this module adds the grounding result as a small fixed
HTML panel and as machine-readable JSON (``<script type="application/json"
id="scene3d-grounding">``).
"""

from __future__ import annotations

import html
import json

from scene3d.structures import GroundingResult
from scene3d_viewer.state import ViewerError

_PANEL_STYLE = ("position:fixed;left:12px;bottom:12px;z-index:1000;max-width:360px;padding:8px 12px;"
                "background:rgba(255,255,255,0.92);border:1px solid #ccc;border-radius:6px;"
                "font:13px/1.4 system-ui,sans-serif;color:#222")


def result_panel_html(scene_id: str, result: GroundingResult | None) -> str:
    """The HTML of the export's result panel and its JSON; all text is escaped."""
    rows = []
    if result is not None:
        for r in result.ranked:
            rows.append(f"<li>object {r.object_id} &middot; {html.escape(r.label)} &middot; {r.score:.3f}</li>")
        body = (f"<div><b>query:</b> {html.escape(result.query)}</div>"
                + (f"<ol style='margin:4px 0 0 18px;padding:0'>{''.join(rows)}</ol>" if rows else
                   "<div>(the scene has no objects)</div>"))
    else:
        body = "<div>(no grounding query)</div>"
    payload = {"scene_id": scene_id, "grounding": result.to_json() if result is not None else None}
    # "</" cannot end the script element early once escaped as "<\/".
    data = json.dumps(payload).replace("</", "<\\/")
    return (f'<div id="scene3d-result" style="{_PANEL_STYLE}"><div><b>scene:</b> {html.escape(scene_id)}</div>'
            f"{body}</div>"
            f'<script type="application/json" id="scene3d-grounding">{data}</script>')


def inject_panel(client_html: str, panel: str) -> str:
    """Insert ``panel`` just before ``</body>`` of the viser export.

    Raises:
        ViewerError: the document has no ``</body>`` (not a viser export).
    """
    end = client_html.rfind("</body>")
    if end < 0:
        raise ViewerError("the viser export has no </body>; cannot add the grounding panel")
    return client_html[:end] + panel + client_html[end:]

