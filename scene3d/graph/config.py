"""Every threshold of the spatial relations, in one place (metres, radians).

The relations are decided from object boxes (centre, size, yaw), so they work
the same on synthetic scenes, imported scans and ground-truth object lists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RelationConfig:
    """Thresholds of :func:`scene3d.graph.build_scene_graph`.

    Attributes:
        structure_labels: classes that are room structure: never targets of the
            object relations; the floor and walls still anchor "on" and "mounted on".
        support_gap: |target bottom - anchor top| below this (m) counts as resting on it.
        support_overlap: fraction of the target's footprint that must lie over the anchor's
            footprint for "on" / "inside" / "above".
        support_depth: a target whose bottom lies this far below the anchor top, but above
            the anchor's bottom, and whose footprint is inside it, stands on an inner
            surface (a shelf board): still "on" the anchor.
        inside_fraction: share of the target's volume inside the anchor's box for "inside".
        embedded_fraction: share for "embedded" (partly sunk into the anchor).
        above_gap: the target's bottom is at least this much above the anchor top for "above".
        above_max: ... and at most this much (beyond it the two are unrelated).
        mount_gap: distance (m) from a wall's box within which a raised object hangs on it.
        mount_min_height: a mounted object's bottom is at least this high above the floor.
        near: horizontal box-to-box gap (m) below which two objects are near.
        next_to: gap below which two objects standing side by side are next to each other.
        far: gap above which two objects are far from each other.
        closest_margin: the closest (farthest) of a class must beat the runner-up by this
            many metres, so the answer is unambiguous.
        between_max_gap: each anchor must be within this distance of the target.
        between_lateral: the target centre's distance from the anchors' centre line, as a
            fraction of the anchors' separation, must stay below this.
        middle_fraction: "in the middle of the room": the target centre lies within this
            fraction of the room's half extents of the room centre.
        front_max_gap: allocentric and egocentric relations only hold within this gap.
        sector: half-width of the front / back / left / right sectors (radians).
        view_margin: egocentric left/right/front/behind need this separation (m) along the axis.
        superlative_margin: largest/smallest/tallest/lowest must beat the runner-up by this
            relative (volume) or absolute (m, height) margin.
        size_classes: volume limits (m^3) between "small", "medium" and "large".
    """

    structure_labels: tuple[str, ...] = ("wall", "floor", "ceiling")
    support_gap: float = 0.06
    support_overlap: float = 0.5
    support_depth: float = 3.0
    inside_fraction: float = 0.9
    embedded_fraction: float = 0.3
    above_gap: float = 0.1
    above_max: float = 2.0
    mount_gap: float = 0.1
    mount_min_height: float = 0.3
    near: float = 0.5
    next_to: float = 0.15
    far: float = 2.5
    closest_margin: float = 0.15
    between_max_gap: float = 1.5
    between_lateral: float = 0.35
    middle_fraction: float = 0.3
    front_max_gap: float = 1.5
    sector: float = 0.7853981633974483  # pi / 4
    view_margin: float = 0.1
    superlative_margin: float = 0.15
    size_classes: tuple[float, float] = (0.02, 0.4)
