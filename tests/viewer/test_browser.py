"""End to end in a real browser: headless Chromium (the system's /usr/bin/chromium) driven by Playwright.

Set up once (Debian/Ubuntu): ``apt-get install -y chromium`` and ``pip install -e ".[dev]"``
(viser, playwright). Never ``playwright install``: the test uses the system browser only.
The README's pictures come from ``data_tools/make_viewer_figures.py`` (the packaged model on the
real scan), not from this test, whose model is untrained.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scene3d.io import load_scene

CHROMIUM = Path(os.environ.get("SCENE3D_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
QUERY = "the chair next to the table"

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_page():
    pytest.importorskip("viser", reason="the viewer needs viser: pip install -e '.[dev]'")
    sync_api = pytest.importorskip("playwright.sync_api", reason="no playwright: pip install -e '.[dev]'")
    if not CHROMIUM.is_file():
        pytest.skip(f"no system browser at {CHROMIUM}: apt-get install -y chromium (or set SCENE3D_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1100, "height": 700}).new_page()   # more tabs: page.context
        finally:
            browser.close()


def _variance(png: bytes) -> float:
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64).var())


def _ceiling_share(png: bytes, scene) -> float:
    """Share of the 3D view's central pixels (left of the control panel) whose colour is nearer
    the scene's mean ceiling colour than its mean wall colour, and within 20 of it; the white
    page background is left out."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)[150:550, 150:650]
    mean = {lab: scene.colors[np.isin(scene.instance_ids, [o.object_id for o in scene.objects if o.label == lab])]
            .astype(np.float64).mean(0) for lab in ("ceiling", "wall")}
    d_ceiling = np.linalg.norm(rgb - mean["ceiling"], axis=-1)
    d_wall = np.linalg.norm(rgb - mean["wall"], axis=-1)
    page = (rgb >= 253).all(-1)
    return float(((d_ceiling < 20) & (d_ceiling < d_wall) & ~page).mean())


def test_page_shows_the_grounded_object(browser_page, view_data, grounder, tmp_path):
    from scene3d_viewer import Viewer

    page = browser_page
    viewer = Viewer(view_data, grounder=grounder, port=0, out=tmp_path / "out")
    try:
        t0 = time.perf_counter()
        page.goto(viewer.url)
        page.get_by_text("Connected").wait_for(timeout=30_000)
        page.locator("#scene3d-highlight").wait_for(timeout=30_000)
        page.get_by_text("shown),").wait_for(timeout=30_000)   # the scene line: written once the points are sent
        load_s = time.perf_counter() - t0
        tab = viewer.page(timeout=30)   # this browser tab's page
        close = page.locator(".mantine-Notification-closeButton")  # "software WebGL" notice
        if close.count():
            close.first.click()
        # the first view: ceiling and near walls cut away, furniture in the middle of the view
        scene = load_scene(view_data / "synth_00000")
        ceiling = [o.object_id for o in scene.objects if o.label == "ceiling"]
        assert ceiling and set(ceiling) <= tab.state.hidden_object_ids
        assert not np.isin(scene.instance_ids[tab._shown], ceiling).any()
        assert "type a sentence" in page.locator("#scene3d-highlight").inner_text()   # the empty state says what to do
        time.sleep(1.5)
        cut = _ceiling_share(page.screenshot(), scene)
        tab.set_cutaway(False)
        time.sleep(1.5)
        whole = _ceiling_share(page.screenshot(), scene)
        tab.set_cutaway(True)
        print(f"\nceiling-coloured share of the view's centre: {cut:.3f} cut away, {whole:.3f} with the ceiling")
        assert cut < 0.05 and whole > 4 * cut + 0.05
        query_box = page.locator("div:has(> label:text-is('Query')) input").or_(
            page.locator("input.mantine-TextInput-input:visible").first)
        t1 = time.perf_counter()
        query_box.fill(QUERY)
        shown = page.locator(f'#scene3d-highlight[data-query="{QUERY}"]')
        shown.wait_for(timeout=30_000)
        ground_s = time.perf_counter() - t1

        expected = grounder.ground(load_scene(view_data / "synth_00000"), QUERY, top_k=viewer.top_k).best
        assert int(shown.get_attribute("data-object-id")) == expected.object_id
        assert shown.get_attribute("data-label") == expected.label
        assert float(shown.get_attribute("data-score")) == pytest.approx(expected.score, abs=1e-4)
        assert tab.state.highlighted_object_id == expected.object_id
        assert page.get_by_text(f"object {expected.object_id} · {expected.label}").is_visible()
        labels = [n for n in tab._grounding_nodes if n.name.endswith("/label")]
        assert len(labels) == 1 + len(tab.state.result.anchors)   # the top answer and its anchors only

        time.sleep(1.0)  # let the software renderer draw the highlight
        shot = page.screenshot()
        (tmp_path / "viewer.png").write_bytes(shot)
        assert _variance(shot) > 100.0, "the page screenshot is blank"
        render = tab.save_png(tmp_path / "render.png", height=360, width=640)
        assert _variance(render.read_bytes()) > 100.0, "the viser render is blank"

        page.get_by_role("button", name="Save PNG").click()  # the buttons: render and export from the page
        page.get_by_text("saved").wait_for(timeout=30_000)
        page.get_by_role("button", name="Export HTML").click()
        page.get_by_text(".html").wait_for(timeout=30_000)
        saved = sorted(p.suffix for p in (tmp_path / "out").iterdir())
        assert saved == [".html", ".png"]
        assert _variance(next((tmp_path / "out").glob("*.png")).read_bytes()) > 100.0

        t2 = time.perf_counter()  # a second query: the text encoder is warm now
        query_box.fill("the lamp on the desk")
        page.locator('#scene3d-highlight[data-query="the lamp on the desk"]').wait_for(timeout=30_000)
        warm_s = time.perf_counter() - t2
        warm_server_s, warm_model_s = tab.state.page_grounding_s, tab.state.result.seconds

        other = page.context.new_page()   # a second tab opens on the empty state; its query leaves this tab alone
        other.goto(viewer.url)
        other.locator("#scene3d-highlight").wait_for(timeout=30_000)
        other.get_by_text("shown),").wait_for(timeout=30_000)
        assert "type a sentence" in other.locator("#scene3d-highlight").inner_text()
        assert len(viewer.pages) == 2 and viewer.page() is not tab
        other.locator("input.mantine-TextInput-input:visible").first.fill(QUERY)
        other.locator(f'#scene3d-highlight[data-query="{QUERY}"]').wait_for(timeout=30_000)
        assert page.locator('#scene3d-highlight[data-query="the lamp on the desk"]').count() == 1
        assert tab.state.result.query == "the lamp on the desk"
        other.close()
        query_box.fill("")  # an empty query: an error line, not a dead page
        page.locator('#scene3d-error[data-error*="query is empty"]').wait_for(timeout=10_000)
        assert page.locator('#scene3d-highlight[data-object-id=""]').count() == 1
        print(f"\nviewer page load {load_s:.2f} s; query to highlight in the page: first {ground_s * 1000:.0f} ms "
              f"(text encoder cold), second {warm_s * 1000:.0f} ms (server {warm_server_s * 1000:.0f} ms, of which "
              f"Grounder.ground {warm_model_s * 1000:.0f} ms); screenshot {tmp_path / 'viewer.png'}")
    finally:
        viewer.close()
