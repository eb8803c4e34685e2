"""Every threshold of the spatial relations, in one place (metres, radians).

The relations are decided from object boxes (centre, size, yaw), so they work
the same on synthetic scenes, imported scans and ground-truth object lists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RelationConfig:
    """Thresholds of :func:`scene3d.graph.build_scene_graph`.

    The defaults follow the Sr3D generator (ReferIt3D, Achlioptas et al. 2020) where it
    defines the relation, so that our graphs hold Sr3D's references (see
    ``benchmarks/RESULTS.md``, "Sr3D fidelity").

    Attributes:
        structure_labels: classes that are room structure: never targets of the
            object relations; the floor and walls still anchor "on" and "mounted on".
        support_gap: |target bottom - anchor top| at most this (m): resting on it (Sr3D 0.15).
        support_overlap: share of the target's footprint over the anchor's for "on" (Sr3D 0.3).
        support_area_ratio: the target's footprint is smaller than this times the
            anchor's (Sr3D 1.5).
        support_depth: a target whose bottom lies up to this far below the anchor top, but
            above the anchor's bottom, and whose footprint is inside it (> 90 %), stands on
            an inner surface (a shelf board): still "on" the anchor.
        inside_fraction: share of the target's volume inside the anchor's box for "inside".
        embedded_fraction: share for "embedded" (partly sunk into the anchor).
        above_gap: the target's bottom is more than this above the anchor top (Sr3D 0.06).
        above_overlap: footprint intersection over the smaller footprint (Sr3D 0.2).
        mount_gap: distance (m) from a wall's box within which a raised object hangs on it.
        mount_min_height: a mounted object's bottom is at least this high above the floor.
        near: box-to-box gap (m) below which two objects are near.
        next_to: gap below which two objects standing side by side are next to each other.
        far: horizontal gap above which two objects are far from each other.
        closest_margin: the closest (farthest) of a class to an anchor, by box-to-box
            distance, beats the runner-up by this many metres (Sr3D 0.2).
        between_coverage: share of the target's footprint inside the convex hull of the
            two anchors' footprints (Sr3D 0.51).
        between_anchor_overlap: at most this share of the target's footprint over either
            anchor (Sr3D 0.1).
        between_z_overlap: the target's height range overlaps each anchor's by at least this
            share of the target's height (Sr3D 0.2).
        between_samples: the footprint shares are measured on a k x k grid of points.
        middle_fraction: "in the middle of the room": the target centre lies within this
            fraction of the room's half extents of the room centre.
        sector_flare: the front/back/left/right sectors of an anchor widen at this angle
            (radians, Sr3D 10 degrees) ...
        sector_depth: ... over the first min(2 x box side, this) metres (Sr3D 1.0) ...
        sector_reach: ... and then run this much further at constant width (Sr3D 4.0).
        sector_overlap: no allocentric relation when the target's footprint lies over the
            anchor's by more than this share (Sr3D 0.2).
        front_max_gap: egocentric relations only hold within this gap (m).
        view_margin: egocentric left/right/front/behind need this separation (m) along the axis.
        superlative_margin: largest/smallest/tallest must beat the runner-up by this
            relative margin; lowest by ``height_margin`` metres.
        height_margin: see above.
        size_classes: volume limits (m^3) between "small", "medium" and "large".
        size_word_ratio: an object is "tall" / "low" / "wide" among its class when its height
            (footprint side) is this many times every other's (its volume this squared for
            "large" / "small").
    """

    structure_labels: tuple[str, ...] = ("wall", "floor", "ceiling")
    support_gap: float = 0.15
    support_overlap: float = 0.3
    support_area_ratio: float = 1.5
    support_depth: float = 3.0
    inside_fraction: float = 0.9
    embedded_fraction: float = 0.3
    above_gap: float = 0.06
    above_overlap: float = 0.2
    mount_gap: float = 0.1
    mount_min_height: float = 0.3
    near: float = 0.5
    next_to: float = 0.15
    far: float = 2.5
    closest_margin: float = 0.2
    between_coverage: float = 0.51
    between_anchor_overlap: float = 0.1
    between_z_overlap: float = 0.2
    between_samples: int = 8
    middle_fraction: float = 0.3
    sector_flare: float = 0.17453292519943295  # 10 degrees
    sector_depth: float = 1.0
    sector_reach: float = 4.0
    sector_overlap: float = 0.2
    front_max_gap: float = 1.5
    view_margin: float = 0.1
    superlative_margin: float = 0.15
    height_margin: float = 0.1
    size_classes: tuple[float, float] = (0.02, 0.4)
    size_word_ratio: float = 1.4
