import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scene3d.geometry.boxes import aabb, aabb_iou, min_area_box
from scene3d.structures import Box


def test_aabb_and_iou_analytic():
    a = Box.from_min_max([0, 0, 0], [2, 2, 2])
    b = Box.from_min_max([1, 1, 1], [3, 3, 3])
    assert aabb_iou(a, b) == pytest.approx(1 / 15)  # 1 / (8 + 8 - 1)
    assert aabb_iou(a, a) == pytest.approx(1.0)
    assert aabb_iou(a, Box.from_min_max([5, 5, 5], [6, 6, 6])) == 0.0
    pts = np.array([[0, 0, 0], [1, 2, 3]], np.float32)
    box = aabb(pts)
    np.testing.assert_allclose(box.size, [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        aabb(np.zeros((0, 3)))


@settings(max_examples=40, deadline=None)
@given(yaw=st.floats(0.05, math.pi / 2 - 0.05), sx=st.floats(0.3, 3), sy=st.floats(0.3, 3))
def test_min_area_box_recovers_rotated_rectangle(yaw, sx, sy):
    truth = Box(center=np.array([1.0, -2.0, 0.5]), size=np.array([sx, sy, 1.0]), yaw=yaw)
    pts = truth.corners()
    box = min_area_box(pts)
    assert np.prod(box.size) == pytest.approx(np.prod(truth.size), rel=1e-6)
    np.testing.assert_allclose(box.center, truth.center, atol=1e-6)
    assert box.contains(pts).all()


def test_min_area_box_degenerate_falls_back():
    pts = np.array([[0, 0, 0], [1, 1, 0], [2, 2, 1]], np.float64)  # collinear in xy
    box = min_area_box(pts)
    assert box.yaw == 0.0 and box.contains(pts).all()
