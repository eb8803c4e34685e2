"""Which of a scene's class names a sentence mentions, and where: open-vocabulary, lexical.

Class names come from any vocabulary (ScanNet's 543 raw categories, the synthetic rooms'
41, a user's own). A name is matched after normalisation: lower case, words singularised,
spaces ignored ("trashcan" = "trash can" = "Trash cans"), and through synonym groups
("trash bin", "garbage can": the generator's and a few looser ones). Its head noun
("chair" of "office chair") is matched apart.
The features feed the grounding model next to the class-name embeddings, whose learned
similarity covers names the lexicon does not know.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from scene3d.language.lexicon import singular
from scene3d.language.vocab import HAND_SYNONYMS, UNINFORMATIVE
from scene3d.models.grounding import MENTION_DIM

#: Names a sentence may use for a class beyond the language generator's synonym groups
#: (:data:`scene3d.language.vocab.HAND_SYNONYMS`, which must stay exact for generated text):
#: looser everyday words that still name the class when a person reads them.
LOOSE_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("trash can", "rubbish bin", "waste bin", "waste basket", "dustbin", "trashcan"),
    ("couch", "settee"), ("tv", "tv screen"), ("nightstand", "night table"),
    ("picture", "framed picture", "photo", "poster", "artwork"),
    ("monitor", "computer screen", "screen", "display"),
    ("office chair", "swivel chair", "rolling chair"),
    ("armchair", "arm chair", "lounge chair"), ("bookshelf", "book case", "shelf unit"),
    ("wardrobe", "closet", "armoire"), ("rug", "mat"), ("cup", "coffee mug"), ("plant", "houseplant"),
    ("kitchen counter", "counter", "counter top"), ("whiteboard", "dry erase board", "marker board"),
    ("computer tower", "pc", "computer case", "tower"), ("bathtub", "bath tub"), ("toilet paper", "tissue roll"),
    ("clothes", "clothing"), ("stool", "bar stool"), ("laptop", "notebook computer"), ("backpack", "back pack"),
    ("curtain", "drapes"), ("blinds", "window blinds"), ("shoes", "sneakers"), ("recliner", "reclining chair"),
    ("ottoman", "footstool", "foot stool", "pouf"), ("coat rack", "coat stand", "hat stand"),
)

#: Features per (object, sentence), in this order (see :func:`mention_features`).
MENTION_FEATURES = ("named", "head_named", "first_named", "position")
assert len(MENTION_FEATURES) == MENTION_DIM

_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=65536)
def _singular(word: str) -> str:
    return singular(word)


def words(text: str) -> tuple[str, ...]:
    """Lower-case singular words of ``text`` (punctuation dropped)."""
    return tuple(_singular(w) for w in _WORD.findall(text.lower()))


def compact(name: str) -> str:
    """A class name's match key: its singular words joined without spaces."""
    return "".join(words(name))


@lru_cache(maxsize=1)
def _groups() -> dict[str, frozenset[str]]:
    """Match key -> the keys of every name it may stand for (groups sharing a name merge)."""
    table: dict[str, set[str]] = {}
    for group in (*HAND_SYNONYMS, *LOOSE_SYNONYMS):
        keys = {compact(n) for n in group}
        merged = keys.union(*(table.get(k, set()) for k in keys))
        for k in merged:
            table[k] = merged
    return {k: frozenset(v) for k, v in table.items()}


@lru_cache(maxsize=65536)
def name_keys(name: str) -> tuple[frozenset[str], str]:
    """(match keys of the name and its synonyms, the head noun's key) of a class name."""
    key = compact(name)
    ws = words(name)
    return _groups().get(key, frozenset({key})), (ws[-1] if ws else "")


#: Words that open a leading phrase about where the target is, or where the viewer stands,
#: before the target itself ("beside the door, a brown case"; "facing the bed, the left
#: nightstand"; "if you face the bed, ..."): prepositions, viewpoint verbs, conjunctions.
LEAD_WORDS = frozenset({
    "above", "across", "adjacent", "against", "along", "among", "around", "as", "at", "behind", "below",
    "beneath", "beside", "between", "beyond", "by", "close", "facing", "from", "if", "in", "inside", "looking",
    "near", "next", "on", "opposite", "over", "standing", "to", "under", "underneath", "upon", "when", "while",
    "with", "within",
})


class SentenceIndex:
    """Where each word n-gram (n <= ``max_n``, joined without spaces) first occurs in a sentence,
    and how long its leading phrase is (:data:`LEAD_WORDS` up to the first comma; 0: none)."""

    def __init__(self, text: str, max_n: int = 4):
        self.words = words(text)
        self.first: dict[str, int] = {}
        for i in range(len(self.words)):
            for n in range(1, max_n + 1):
                if i + n <= len(self.words):
                    self.first.setdefault("".join(self.words[i:i + n]), i)
        head, comma, _ = text.partition(",")
        lead = len(words(head)) if comma else 0
        self.lead = lead if self.words and self.words[0] in LEAD_WORDS and lead < len(self.words) else 0

    def find(self, keys) -> int:
        """The first word position of any of ``keys``; -1 when none occurs."""
        hits = [self.first[k] for k in keys if k in self.first]
        return min(hits) if hits else -1

    def order(self, position: int) -> tuple[bool, int]:
        """Sort key of a word position for "which class is named first": after the leading
        phrase before inside it (that phrase names where to look, not what)."""
        return position < self.lead, position


def mention_features(labels: list[str], text: str) -> np.ndarray:
    """(N, MENTION_DIM) float32 features of N objects' class names against one sentence.

    Columns: ``named`` (1 when the name or a synonym occurs), ``head_named`` (its head noun
    occurs, e.g. "chair" for "office chair"), ``first_named`` (1 when its class is the first
    of the scene's classes the sentence names: usually the target), ``position`` (word
    position of its first mention / sentence length, in [0, 1]; 1 when not named).
    Empty labels (padding) get zeros and position 1.
    """
    index = SentenceIndex(text)
    length = max(1, len(index.words))
    found: dict[str, tuple[int, int]] = {}           # label -> (position of the name, of its head noun)
    for label in set(labels) - {""}:
        keys, head = name_keys(label)
        found[label] = (index.find(keys), index.find((head,)) if head else -1)
    first = {label: min((p for p in pos if p >= 0), default=-1) for label, pos in found.items()}
    earliest = min((p for p in first.values() if p >= 0), default=-1)
    out = np.zeros((len(labels), MENTION_DIM), dtype=np.float32)
    out[:, 3] = 1.0
    for i, label in enumerate(labels):
        if not label or first[label] < 0:
            continue
        out[i] = (found[label][0] >= 0, found[label][1] >= 0, first[label] == earliest, min(1.0, first[label] / length))
    return out


def class_mention_features(classes: list[tuple[tuple[str, float], ...]], text: str) -> np.ndarray:
    """(N, MENTION_DIM) float32 mention features of N objects that each carry a class
    distribution ((class name, probability) pairs summing to 1; ``()`` on padding): the
    probability-weighted mean of :func:`mention_features` over each object's classes (the
    sentence's classes are looked for among all the candidates). An object of one class with
    probability 1 gets exactly that class's row; padding gets zeros and position 1.
    """
    flat = [name for dist in classes for name, _ in dist]
    feats = mention_features(flat, text)
    out = np.zeros((len(classes), MENTION_DIM), dtype=np.float32)
    out[:, 3] = 1.0
    start = 0
    for i, dist in enumerate(classes):
        if dist:
            out[i] = sum(w * feats[start + c] for c, (_, w) in enumerate(dist))
            start += len(dist)
    return out


class Vocabulary:
    """Class names (with their synonyms) looked up by the n-grams of a sentence.

    Args:
        names: the class names (any vocabulary; normalised and grouped as in this module).
            Labels that name no class ("object", "otherprop": ``UNINFORMATIVE``) are left out,
            so "the object is a towel" asks for a towel.
    """

    def __init__(self, names: list[str]):
        self.by_key: dict[str, str] = {}
        for name in sorted(set(names) - {""} - UNINFORMATIVE):
            for key in name_keys(name)[0]:
                self.by_key.setdefault(key, name)

    def first_named(self, text: str, extra: list[str] = ()) -> str | None:
        """The class name (of the vocabulary or ``extra``, e.g. the scene's labels) that ``text``
        names first: the sentence's likely target class. A leading phrase ("beside the door, a
        brown case": :class:`SentenceIndex`) counts last; at one position the longest name wins
        ("office chair" over "chair"); None when the sentence names none of them."""
        extra_keys = {k: name for name in set(extra) - {""} - UNINFORMATIVE for k in name_keys(name)[0]}
        index = SentenceIndex(text)
        best, best_rank = None, (True, 1 << 30, 0)
        for key, pos in index.first.items():
            name = extra_keys.get(key) or self.by_key.get(key)
            if name is not None and (*index.order(pos), -len(key)) < best_rank:
                best, best_rank = name, (*index.order(pos), -len(key))
        return best


def is_class(label: str, name: str) -> bool:
    """Whether ``label`` is the class ``name`` (same name or synonym), a kind of it (its head
    noun: "office chair" for "chair") or its broader class ("chair" for "office chair")."""
    if not label:
        return False
    keys, head = name_keys(name)
    label_keys, label_head = name_keys(label)
    return bool(keys & label_keys) or label_head in keys or head in label_keys


def class_presence(name: str, classes: list[tuple[tuple[str, float], ...]]) -> float:
    """The probability, in [0, 1], that some object is of the class ``name``, from each
    object's class distribution ((class name, probability) pairs): an object is of the class
    with the summed probability of its classes that are (:func:`is_class`), objects
    independently. Annotated objects (one class, probability 1) give 1.0 or 0.0."""
    absent = 1.0
    for dist in classes:
        p = min(1.0, sum(w for label, w in dist if is_class(label, name)))
        absent *= 1.0 - p
    return 1.0 - absent
