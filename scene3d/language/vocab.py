"""Class names as people say them: synonyms, and which labels are not worth naming.

Object labels stay what the source calls them (ScanNet raw categories such as
"trash can", "kitchen cabinets", "object"); this module decides how a sentence
may name them. Synonyms come from a small hand list (:data:`HAND_SYNONYMS`) and,
when given, from ScanNet's ``scannetv2-labels.combined.tsv`` read at run time
(``raw_category -> category``: "wardrobe closet" may be called "wardrobe",
"couch cushions" "cushions"). A scene may only use a name that no other class
of the same scene could be taken for (:meth:`Vocabulary.scene_names`), so a
referral stays unique when it is read by a person.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from scene3d.errors import SceneFormatError
from scene3d.io.scannet_labels import normalise_label
from scene3d.language.lexicon import number, plural, singular

#: Groups of interchangeable names (every member may stand for every other).
HAND_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("trash can", "trash bin", "garbage can", "garbage bin", "wastebasket"),
    ("couch", "sofa"), ("tv", "television"), ("nightstand", "night stand", "bedside table"),
    ("refrigerator", "fridge"), ("bookshelf", "bookcase", "book shelf"), ("office chair", "desk chair"),
    ("whiteboard", "white board"), ("picture", "painting"), ("rug", "carpet"), ("dresser", "chest of drawers"),
    ("cup", "mug"), ("file cabinet", "filing cabinet"), ("telephone", "phone"), ("end table", "side table"),
    ("microwave", "microwave oven"), ("doorframe", "door frame"), ("bathtub", "tub"), ("jacket", "coat"),
    ("clothes", "garments"), ("sofa chair", "armchair"), ("backpack", "rucksack"), ("plant", "potted plant"),
    ("recycling bin", "recycle bin"), ("computer tower", "desktop computer"), ("monitor", "computer monitor"),
    ("laptop", "laptop computer"), ("keyboard", "computer keyboard"), ("cabinet", "cupboard"),
    ("kitchen cabinet", "kitchen cupboard"), ("kitchen cabinets", "kitchen cupboards"), ("sink", "basin"),
    ("radiator", "heater"), ("mini fridge", "minifridge"), ("toilet paper", "toilet roll"),
    ("kitchen counter", "countertop"), ("curtain", "drape"), ("armchair", "easy chair"),
)

#: Labels that say nothing about the object: never a target or an anchor, not counted in captions.
UNINFORMATIVE = frozenset({"object", "objects", "otherprop", "otherfurniture", "otherstructure", "stuff",
                           "item", "items", "thing", "things", "unknown", "misc", "remove"})


def _last(name: str) -> str:
    return name.rpartition(" ")[2]


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Names for object classes.

    Attributes:
        synonyms: label -> other names of the same grammatical number ("couch" -> ("sofa",)).
        uninformative: labels that are never named (see :data:`UNINFORMATIVE`).
    """

    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uninformative: frozenset[str] = UNINFORMATIVE

    def informative(self, label: str) -> bool:
        """Whether objects of ``label`` may be targets, anchors or caption subjects."""
        return label not in self.uninformative

    def scene_names(self, labels: list[str] | tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Per label of one scene, its synonyms that no other class of the scene could be taken for.

        A name is dropped for label L when another label M of the scene equals it, has it as a
        synonym, or ends in it ("table" is not a name for "dining table" next to a "coffee table").
        """
        present = set(labels)
        taken: dict[str, set[str]] = {}
        for m in present:
            for w in (m, _last(m), *self.synonyms.get(m, ())):
                taken.setdefault(w, set()).add(m)
        return {label: tuple(w for w in self.synonyms.get(label, ()) if taken.get(w, set()) <= {label}
                             and taken.get(_last(w), set()) <= {label})
                for label in present}

    def confusable(self, labels: list[str] | tuple[str, ...]) -> frozenset[str]:
        """Labels of one scene that a reader could take for another class of the scene: two
        classes sharing a name ("book" / "books", "kitchen cabinet" / "kitchen cabinets", "trash
        can" / "trash bin"), or a one-word class that is the head of another ("chair" next to
        "office chair"). Referrals neither target nor anchor them: counted per label, their
        uniqueness would not be what a person reads."""
        present = set(labels)
        owners: dict[str, set[str]] = {}
        for m in present:
            for w in (m, *self.synonyms.get(m, ())):
                owners.setdefault(singular(w), set()).add(m)
        out = {m for group in owners.values() if len(group) > 1 for m in group}
        out |= {_last(m) for m in present if " " in m} & present
        return frozenset(out)


def _add(table: dict[str, list[str]], a: str, b: str) -> None:
    """Record ``b`` as a name of ``a`` when both have the same grammatical number."""
    if a != b and number(a) == number(b) and b not in table.setdefault(a, []):
        table[a].append(b)


def _hand_table() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for group in HAND_SYNONYMS:
        for a in group:
            for b in group:
                _add(table, a, b)
    return table


DEFAULT_VOCABULARY = Vocabulary({k: tuple(v) for k, v in _hand_table().items()})


@lru_cache(maxsize=4)
def load_vocabulary(label_map: str | None = None) -> Vocabulary:
    """The hand list, extended from a ScanNet ``scannetv2-labels.combined.tsv`` when given.

    Each row's ``raw_category -> category`` becomes a name of the raw label: the category
    itself when their numbers agree ("wardrobe closet" -> "wardrobe"), its plural when the raw
    label is plural ("couch cushions" -> "cushions"); a category that is only the singular of
    the raw label ("books" -> "book") or that names a part of a group ("stack of chairs" ->
    "chair") adds nothing.

    Args:
        label_map: path of the TSV, or None for the hand list alone.

    Raises:
        SceneFormatError: the file is missing or lacks the ``raw_category`` / ``category`` columns.
    """
    if label_map is None:
        return DEFAULT_VOCABULARY
    path = Path(label_map)
    if not path.is_file():
        raise SceneFormatError(path, "label map not found (pass ScanNet's scannetv2-labels.combined.tsv, "
                                     "or no label map to use the built-in synonyms only)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SceneFormatError(path, f"unreadable TSV ({exc})") from None
    if not rows or not {"raw_category", "category"} <= set(rows[0]):
        raise SceneFormatError(path, "label map needs 'raw_category' and 'category' columns "
                                     "(ScanNet v2's scannetv2-labels.combined.tsv)")
    table = _hand_table()
    for row in rows:
        raw, cat = normalise_label(row["raw_category"] or ""), normalise_label(row["category"] or "")
        if not raw or not cat or raw.startswith(("stack", "pile", "set of")) or cat == singular(raw):
            continue
        _add(table, raw, plural(cat) if number(raw) == "plural" else cat)
    return Vocabulary({k: tuple(v) for k, v in table.items()})
