"""A browser tab without a browser: a websocket connection to the viewer's viser server.

Each connection is a tab of its own to the server (its own page). Like viser's web client, it
reports its camera first (viser counts a client as connected from then); the messages the server
sends it are read and dropped in the background.
"""

from __future__ import annotations

import contextlib
import threading
import time

import msgspec
import viser
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

CAMERA = {"type": "ViewerCameraMessage", "wxyz": [1.0, 0.0, 0.0, 0.0], "position": [0.0, 0.0, 5.0], "fov": 1.3,
          "near": 0.01, "far": 1000.0, "image_height": 480, "image_width": 640, "look_at": [0.0, 0.0, 0.0],
          "up_direction": [0.0, 0.0, 1.0]}


@contextlib.contextmanager
def open_tab(viewer, timeout: float = 30.0):
    """Open a tab on ``viewer`` and yield its :class:`~scene3d_viewer.ViewerPage`; the tab closes on exit."""
    before = set(viewer.pages.session_ids())
    ws = connect(viewer.url.replace("http://", "ws://"), subprotocols=[f"viser-v{viser.__version__}"],
                 max_size=None)

    def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                ws.recv()

    ws.send(msgspec.msgpack.encode(CAMERA))
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not (new := set(viewer.pages.session_ids()) - before):
            assert time.monotonic() < deadline, "the viewer made no page for the new tab"
            time.sleep(0.02)
        yield viewer.page(new.pop())
    finally:
        ws.close()
        reader.join(timeout=5.0)
