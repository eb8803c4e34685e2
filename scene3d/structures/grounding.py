"""What grounding and repository search return."""

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
    """The answer to one query: objects ranked best first, and the time it took (s).

    ``low_confidence`` is True when the query seems to name nothing in the scene: the class
    it names first (``asked_class``, from the model's vocabulary; None when it names none it
    knows) is not in the scene, and no object's class matches what the sentence asks for as
    well as the calibrated threshold of the model (``class_match`` is the best match, a cosine
    in [-1, 1]). The ranking is then still the model's, but not an answer to trust.
    """

    query: str
    scene_id: str
    ranked: list[RankedObject] = field(default_factory=list)
    seconds: float = 0.0
    low_confidence: bool = False
    class_match: float | None = None
    anchors: list[RankedObject] = field(default_factory=list)
    asked_class: str | None = None

    @property
    def best(self) -> RankedObject | None:
        return self.ranked[0] if self.ranked else None

    def to_json(self) -> dict:
        return {"query": self.query, "scene_id": self.scene_id, "seconds": self.seconds,
                "low_confidence": self.low_confidence, "class_match": self.class_match,
                "asked_class": self.asked_class,
                "ranked": [{"object_id": r.object_id, "label": r.label, "score": r.score,
                            "center": r.box.center.tolist(), "size": r.box.size.tolist(), "yaw": r.box.yaw}
                           for r in self.ranked],
                "anchors": [{"object_id": r.object_id, "label": r.label, "score": r.score} for r in self.anchors]}


@dataclass(frozen=True)
class SearchHit:
    """One answer of a repository search: a scene, its score, and the objects that matched
    the query best (ids, best first; empty when the query was not about objects).

    The optional fields say where the hit leads (filled by ``scene3d.repository.SceneIndex``):
    key: the scene's index key ("<collection>/<scene id>"); labels: the labels of ``object_ids``,
    same order; room_type / caption: the scene's; path: the scene folder (or URI) it was indexed
    from; source: e.g. "synthetic", "scannet"."""

    scene_id: str
    score: float
    object_ids: tuple[int, ...] = ()
    key: str = ""
    labels: tuple[str, ...] = ()
    room_type: str | None = None
    caption: str | None = None
    path: str | None = None
    source: str | None = None
