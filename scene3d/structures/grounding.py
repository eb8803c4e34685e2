"""What grounding returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from scene3d.structures.scene import Box


@dataclass(frozen=True)
class RankedObject:
    """One candidate: its id, class, probability among the scene's objects, and box (metres)."""

    object_id: int
    label: str
    score: float
    box: Box


@dataclass
class GroundingResult:
    """The answer to one query: objects ranked best first, and the time it took (s)."""

    query: str
    scene_id: str
    ranked: list[RankedObject] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> RankedObject | None:
        return self.ranked[0] if self.ranked else None

    def to_json(self) -> dict:
        return {"query": self.query, "scene_id": self.scene_id, "seconds": self.seconds,
                "ranked": [{"object_id": r.object_id, "label": r.label, "score": r.score,
                            "center": r.box.center.tolist(), "size": r.box.size.tolist(), "yaw": r.box.yaw}
                           for r in self.ranked]}
