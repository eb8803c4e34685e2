import json
import re

import pytest
from scene3d_viewer import ViewerError, inject_panel, result_panel_html

from scene3d.structures import GroundingResult, RankedObject


def test_panel_escapes_and_embeds_json(tiny_scene):
    obj = tiny_scene.object(2)
    result = GroundingResult(query="the <b>red</b> chair </script>", scene_id=tiny_scene.scene_id,
                             ranked=[RankedObject(2, obj.label, 0.75, obj.box)])
    panel = result_panel_html(tiny_scene.scene_id, result)
    assert "<b>red</b>" not in panel and "&lt;b&gt;red&lt;/b&gt;" in panel
    assert "object 2 &middot; chair &middot; 0.750" in panel
    data = re.search(r'id="scene3d-grounding">(.*?)</script>', panel, re.DOTALL).group(1)
    assert "</script>" not in data
    payload = json.loads(data)
    assert payload["scene_id"] == tiny_scene.scene_id
    assert payload["grounding"]["ranked"][0]["object_id"] == 2
    assert payload["grounding"]["query"] == result.query
    assert json.loads(re.search(r'id="scene3d-grounding">(.*?)</script>',
                                result_panel_html("s", None), re.DOTALL).group(1))["grounding"] is None


def test_inject_panel():
    assert inject_panel("<html><body>x</body></html>", "<p>P</p>") == "<html><body>x<p>P</p></body></html>"
    with pytest.raises(ViewerError, match="no </body>"):
        inject_panel("<html>", "<p>")
