"""Words: relation phrases, sentence frames, plurals and articles (English)."""

from __future__ import annotations

#: Target-to-anchor phrases; "{a}" is the anchor noun phrase.
RELATION_PHRASES: dict[str, tuple[str, ...]] = {
    "on": ("on {a}", "on top of {a}", "lying on {a}", "sitting on {a}", "resting on {a}", "placed on {a}"),
    "supporting": ("supporting {a}", "with {a} on it", "that has {a} on top of it", "holding {a}"),
    "inside": ("inside {a}", "in {a}"),
    "contains": ("containing {a}", "with {a} inside it"),
    "embedded": ("built into {a}", "embedded in {a}"),
    "embeds": ("with {a} built into it",),
    "above": ("above {a}", "over {a}", "higher up than {a}"),
    "below": ("below {a}", "under {a}", "beneath {a}", "underneath {a}"),
    "mounted_on": ("hanging on {a}", "mounted on {a}", "on {a}", "attached to {a}"),
    "mounting": ("with {a} hanging on it",),
    "near": ("near {a}", "close to {a}", "by {a}", "not far from {a}"),
    "far": ("far from {a}", "far away from {a}", "distant from {a}"),
    "next_to": ("next to {a}", "beside {a}", "right next to {a}", "adjacent to {a}"),
    "closest": ("closest to {a}", "nearest to {a}", "nearest {a}"),
    "farthest": ("farthest from {a}", "furthest from {a}", "most distant from {a}"),
    "front_of": ("in front of {a}",),
    "behind": ("behind {a}", "in back of {a}", "at the back of {a}"),
    "left_of": ("to the left of {a}", "on the left side of {a}", "left of {a}"),
    "right_of": ("to the right of {a}", "on the right side of {a}", "right of {a}"),
    "ego_left": ("to the left of {a}", "on the left of {a}", "left of {a}"),
    "ego_right": ("to the right of {a}", "on the right of {a}", "right of {a}"),
    "ego_front": ("in front of {a}", "closer to you than {a}"),
    "ego_behind": ("behind {a}", "farther from you than {a}"),
    "between": ("between {a} and {b}", "in between {a} and {b}"),
    "between_same": ("between the two {p}", "in between the two {p}"),
    "middle": ("in the middle of the room", "in the center of the room"),
}

#: Sentence frames around the referral noun phrase "{r}".
FRAMES = ("{r}", "{r}", "find {r}", "select {r}", "choose {r}", "pick {r}", "it is {r}", "look for {r}")

#: "the {x} that is {rel}" connectors.
CONNECTORS = (" ", " that is ", " which is ", " located ")

_IRREGULAR = {"shelf": "shelves", "bookshelf": "bookshelves", "person": "people", "mouse": "mice",
              "knife": "knives", "tv": "tvs"}

#: Nouns that are plural although they name one object (a pair, a pile) ...
PLURAL_ONLY = frozenset({"clothes", "stairs", "glasses", "pants", "jeans", "scissors", "shorts", "headphones",
                         "blinds", "binoculars", "tongs", "pliers", "goggles", "earphones", "trousers"})
#: ... nouns without a plural that take no article ("some clothing") ...
MASS = frozenset({"clothing", "luggage", "laundry", "paper", "trash", "mail", "bedding", "food", "stuff",
                  "furniture", "equipment", "garbage", "rubbish", "junk"})
#: ... and words ending in -s that are singular.
_SINGULAR_S = frozenset({"bus", "gas", "canvas", "lens", "atlas", "chess", "series", "species", "news", "tennis",
                         "kleenex", "xbox", "ps", "cactus", "iris", "lotus", "bias", "christmas", "mattress"})
#: The container word for counting plural or mass nouns ("two stacks of books"); default "group".
COLLECTIVE = {"books": "stack", "papers": "stack", "boxes": "stack", "towels": "stack", "plates": "stack",
              "shoes": "pair", "boots": "pair", "slippers": "pair", "socks": "pair", "glasses": "pair",
              "pants": "pair", "jeans": "pair", "clothes": "pile", "clothing": "pile", "laundry": "pile",
              "pillows": "pile", "blinds": "set", "stairs": "flight", "kitchen cabinets": "row",
              "cabinets": "row", "toilet paper": "pack", "luggage": "piece", "paper": "pile"}

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number(noun: str) -> str:
    """Grammatical number of a (possibly multi-word) noun, decided by its last word:
    ``"singular"`` (chair), ``"plural"`` (books, kitchen cabinets, clothes) or ``"mass"`` (clothing)."""
    last = noun.rpartition(" ")[2]
    if last in MASS or noun in MASS:
        return "mass"
    if last in PLURAL_ONLY or last in _IRREGULAR.values():
        return "plural"
    if len(last) > 3 and last.endswith("s") and not last.endswith(("ss", "us", "is")) and last not in _SINGULAR_S:
        return "plural"
    return "singular"


def singular(noun: str) -> str:
    """The singular of a plural noun phrase ("kitchen cabinets" -> "kitchen cabinet"); other nouns unchanged."""
    head, _, last = noun.rpartition(" ")
    if number(noun) != "plural" or last in PLURAL_ONLY:
        return noun
    inverse = {v: k for k, v in _IRREGULAR.items()}
    if last in inverse:
        word = inverse[last]
    elif last.endswith("ies") and len(last) > 4:
        word = last[:-3] + "y"
    elif last.endswith(("xes", "ches", "shes", "sses", "zes")):
        word = last[:-2]
    else:
        word = last[:-1]
    return f"{head} {word}" if head else word


def plural(noun: str) -> str:
    """English plural of a (possibly multi-word) noun: the last word is inflected; plural
    and mass nouns stay as they are ("books", never "bookses")."""
    if number(noun) != "singular":
        return noun
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR:
        word = _IRREGULAR[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def _collective(noun: str) -> str:
    """"stack" for "red books" (the container word of a plural or mass noun phrase)."""
    for n in range(len(noun.split()), 0, -1):
        tail = " ".join(noun.split()[-n:])
        if tail in COLLECTIVE:
            return COLLECTIVE[tail]
    return "group"


def units(noun: str) -> str:
    """Several of the things ``noun`` names: "chairs"; "stacks of books" for plural or mass nouns."""
    return plural(noun) if number(noun) == "singular" else f"{plural(_collective(noun))} of {noun}"


def indefinite(np_: str) -> str:
    """'a chair' / 'an armchair' / 'some books' / 'some clothing'."""
    if number(np_) != "singular":
        return "some " + np_
    return ("an " if np_[:1].lower() in "aeiou" else "a ") + np_


def copula(np_: str) -> str:
    """'is' or 'are' for a noun phrase as subject."""
    return "are" if number(np_) == "plural" else "is"


def count_phrase(n: int, noun: str) -> str:
    """'one chair', 'three chairs', 'two stacks of books', 'one pile of clothing'."""
    word = NUMBERS[n] if n < len(NUMBERS) else str(n)
    if number(noun) != "singular":
        unit = _collective(noun)
        return f"{word} {unit if n == 1 else plural(unit)} of {noun}"
    return f"{word} {noun if n == 1 else plural(noun)}"
