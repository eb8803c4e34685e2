"""Referring expressions: generated ones and the real ScanRefer / ReferIt3D ones."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from scene3d.errors import SceneValidationError

#: ReferIt3D's view-dependent words (Achlioptas et al. 2020, the evaluation code).
VIEW_DEPENDENT_WORDS = (
    "front", "behind", "back", "right", "left", "facing",
    "leftmost", "rightmost", "looking", "across",
)
_VIEW_DEP_RE = re.compile(r"\b(" + "|".join(VIEW_DEPENDENT_WORDS) + r")\b")


def is_view_dependent(text: str) -> bool:
    """ReferIt3D's rule: the utterance contains a view-dependent word (whole word, any case)."""
    return _VIEW_DEP_RE.search(text.lower()) is not None


#: What an utterance is: a referral picks one object out; a caption describes one
#: object (its target) or the whole scene (no target).
KINDS = ("referral", "object_caption", "scene_caption")


@dataclass(frozen=True)
class Utterance:
    """A sentence about a scene: a referring expression or a caption.

    A superset of the ScanRefer and ReferIt3D (Nr3D / Sr3D) fields.

    Attributes:
        scene_id: the scene it talks about.
        target_id: the referred (or captioned) object's id (ScanNet aggregation
            ``objectId``); None only for a scene caption.
        text: the sentence.
        target_label: the target's class as the source names it ("" if unknown).
        anchor_ids: ids of the anchor objects the sentence mentions (Sr3D, generated).
        distractor_ids: ids of same-class objects that are not the target (ReferIt3D).
        relation: relation family or name ("supporting", "between", ...), or None.
        view_dependent: whether the meaning depends on the viewpoint.
        hard: ReferIt3D "hard" (more than 2 same-class objects) / ScanRefer
            "multiple"; None when the source does not say (compute it from objects).
        source: "nr3d", "sr3d", "scanrefer", "generated", ...
        utterance_id: an id unique within the source (stimulus/ann id, row number).
        kind: one of :data:`KINDS`.
        paraphrased: True when a paraphrase stage rewrote the template sentence.
        viewpoint: for egocentric sentences, the observer as
            (x, y, z, dx, dy, dz): position and look direction (world, metres).
    """

    scene_id: str
    target_id: int | None
    text: str
    target_label: str = ""
    anchor_ids: tuple[int, ...] = field(default_factory=tuple)
    distractor_ids: tuple[int, ...] = field(default_factory=tuple)
    relation: str | None = None
    view_dependent: bool = False
    hard: bool | None = None
    source: str = "unknown"
    utterance_id: str = ""
    kind: str = "referral"
    paraphrased: bool = False
    viewpoint: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.scene_id, str) or not self.scene_id:
            raise SceneValidationError(f"Utterance.scene_id must be a non-empty string, got {self.scene_id!r}")
        if self.kind not in KINDS:
            raise SceneValidationError(f"Utterance.kind must be one of {KINDS}, got {self.kind!r}")
        if self.target_id is None and self.kind != "scene_caption":
            raise SceneValidationError("Utterance.target_id is required (only scene captions have none)")
        if self.target_id is not None and (
            isinstance(self.target_id, bool) or not isinstance(self.target_id, int) or self.target_id < 0
        ):
            raise SceneValidationError(f"Utterance.target_id must be an int >= 0, got {self.target_id!r}")
        if self.viewpoint is not None and (
            not isinstance(self.viewpoint, tuple) or len(self.viewpoint) != 6
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in self.viewpoint)
        ):
            raise SceneValidationError("Utterance.viewpoint must be 6 finite numbers (position, direction)")
        if not isinstance(self.text, str) or not self.text.strip():
            raise SceneValidationError("Utterance.text must be a non-empty string")
        for name in ("anchor_ids", "distractor_ids"):
            ids = getattr(self, name)
            if not isinstance(ids, tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
            ):
                raise SceneValidationError(f"Utterance.{name} must be a tuple of ints >= 0, got {ids!r}")

    def to_json(self) -> dict:
        """A JSON-ready dict (lists for the id tuples)."""
        return {
            "scene_id": self.scene_id,
            "target_id": self.target_id,
            "text": self.text,
            "target_label": self.target_label,
            "anchor_ids": list(self.anchor_ids),
            "distractor_ids": list(self.distractor_ids),
            "relation": self.relation,
            "view_dependent": self.view_dependent,
            "hard": self.hard,
            "source": self.source,
            "utterance_id": self.utterance_id,
            "kind": self.kind,
            "paraphrased": self.paraphrased,
            "viewpoint": None if self.viewpoint is None else list(self.viewpoint),
        }

    @classmethod
    def from_json(cls, record: dict) -> Utterance:
        """Inverse of :meth:`to_json`; raises SceneValidationError on bad fields."""
        if not isinstance(record, dict):
            raise SceneValidationError(f"an utterance record must be an object, got {type(record).__name__}")
        missing = {"scene_id", "target_id", "text"} - set(record)
        if missing:
            raise SceneValidationError(f"utterance record misses {sorted(missing)}")
        kwargs = dict(record)
        for name in ("anchor_ids", "distractor_ids"):
            if name in kwargs:
                if not isinstance(kwargs[name], list):
                    raise SceneValidationError(f"utterance {name} must be a list")
                kwargs[name] = tuple(kwargs[name])
        if kwargs.get("viewpoint") is not None:
            if not isinstance(kwargs["viewpoint"], list):
                raise SceneValidationError("utterance viewpoint must be a list")
            kwargs["viewpoint"] = tuple(kwargs["viewpoint"])
        unknown = set(kwargs) - set(cls.__dataclass_fields__)
        if unknown:
            raise SceneValidationError(f"utterance record has unknown fields {sorted(unknown)}")
        return cls(**kwargs)
