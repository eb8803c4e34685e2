"""Make the README's pictures of the viewer: its first view of the real sample scan and a
grounding answer of the packaged model, both taken in headless Chromium.

    python data_tools/make_viewer_figures.py [--data ../shared/data] [--query "the trash can near the door"]

Writes docs/figures/viewer_first_view.png and docs/figures/viewer.png. Needs the ``viewer``
extra, playwright and the system's /usr/bin/chromium (see tests/viewer/test_browser.py). The
answer is checked against the scan's annotation before the picture is written: the README
shows a right answer or nothing. A missing scan or a wrong answer is one ``error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from _driver import one_line_errors
from PIL import Image

from scene3d.errors import ConfigError
from scene3d.io import import_scannet, save_scene

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def _save(png: bytes, path: Path) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((960, 570), Image.LANCZOS)
    image.quantize(colors=128).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} kB)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                    help="the shared real data (default: ../shared/data)")
    ap.add_argument("--scan", default="scannet/scenes/scene0000_00", help="the scan, relative to --data")
    ap.add_argument("--query", default="the trash can near the door")
    ap.add_argument("--label", default="trashcan", help="the class the right answer has")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return one_line_errors(lambda: _figures(args))


def _figures(args: argparse.Namespace) -> int:
    from playwright.sync_api import sync_playwright
    from scene3d_viewer import Viewer

    print(f"importing {args.data / args.scan} ...")
    with tempfile.TemporaryDirectory() as tmp:
        scene, _ = import_scannet(args.data / args.scan)
        save_scene(scene, Path(tmp) / "scans")
        viewer = Viewer(Path(tmp) / "scans", port=0, out=Path(tmp) / "out")   # the packaged model
        try:
            expected = viewer.grounder.ground(scene, args.query, top_k=viewer.top_k).best
            if expected.label != args.label:
                raise ConfigError(f"the packaged model answers {expected.label!r} for {args.query!r}, not "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
