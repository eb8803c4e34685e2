"""Make the README's pictures of the viewer: its first view of the real sample scan and a
grounding answer of the packaged model, both taken in headless Chromium.

    python docs/make_viewer_figures.py [--data ../shared/data] [--query "the trash can near the door"]

Writes docs/figures/viewer_first_view.png and docs/figures/viewer.png. Needs the ``viewer``
extra, playwright and the system's /usr/bin/chromium (see tests/viewer/test_browser.py). The
answer is checked against the scan's annotation before the picture is written: the README
shows a right answer or nothing.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from PIL import Image

from scene3d.io import import_scannet, save_scene
from scene3d.viewer import Viewer

OUT = Path(__file__).parent / "figures"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def _save(png: bytes, path: Path) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((960, 570), Image.LANCZOS)
    image.quantize(colors=128).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} kB)")


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--scan", default="scannet/scenes/scene0000_00")
    ap.add_argument("--query", default="the trash can near the door")
    ap.add_argument("--label", default="trashcan", help="the class the right answer has")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scene, _ = import_scannet(args.data / args.scan)
        save_scene(scene, Path(tmp) / "scans")
        viewer = Viewer(Path(tmp) / "scans", port=0, out=Path(tmp) / "out")   # the packaged model
        try:
            expected = viewer.grounder.ground(scene, args.query, top_k=viewer.top_k).best
            if expected.label != args.label:
                raise SystemExit(f"the packaged model answers {expected.label!r} for {args.query!r}, not "
                                 f"{args.label!r}: pick another query")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.goto(viewer.url)
                page.get_by_text("Connected").wait_for(timeout=60_000)
                close = page.locator(".mantine-Notification-closeButton")   # the "software WebGL" notice
                if close.count():
                    close.first.click()
                time.sleep(3.0)   # let the software renderer draw the points
                _save(page.screenshot(), OUT / "viewer_first_view.png")
                page.locator("input.mantine-TextInput-input:visible").first.fill(args.query)
                page.locator(f'#scene3d-highlight[data-object-id="{expected.object_id}"]').wait_for(timeout=60_000)
                time.sleep(3.0)
                _save(page.screenshot(), OUT / "viewer.png")
                browser.close()
        finally:
            viewer.close()


if __name__ == "__main__":
    main()
