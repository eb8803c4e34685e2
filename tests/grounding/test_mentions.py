"""Lexical, open-vocabulary class mentions: normalisation, synonyms, head nouns, positions."""

import numpy as np

from scene3d.grounding.mentions import (
    MENTION_FEATURES,
    Vocabulary,
    class_presence,
    mention_features,
    name_keys,
)


def test_synonym_groups_merge_through_shared_names():
    keys, head = name_keys("trash can")
    assert {"trashbin", "garbagecan", "wastebasket", "dustbin", "trashcan"} <= keys and head == "can"
    assert name_keys("sofa")[0] == name_keys("couch")[0] == name_keys("settee")[0]


def test_features_spelling_synonyms_heads_and_order():
    labels = ["trash can", "door", "office chair", "sofa", "", "kitchen cabinets", "table"]
    f = mention_features(labels, "The trashcan near the door, left of the couch and the kitchen cabinet")
    assert f.shape == (7, len(MENTION_FEATURES)) and f.dtype == np.float32
    named, head, first, position = f.T
    np.testing.assert_array_equal(named, [1, 1, 0, 1, 0, 1, 0])       # "trashcan", "door", "couch" = sofa, "cabinet"s
    np.testing.assert_array_equal(head, [0, 1, 0, 0, 0, 1, 0])        # "chair" and "table" are not in the sentence
    np.testing.assert_array_equal(first, [1, 0, 0, 0, 0, 0, 0])       # the trash can comes first
    words = 13  # the trashcan near the door left of the couch and the kitchen cabinet
    np.testing.assert_allclose(position, [1 / words, 4 / words, 1, 8 / words, 1, 11 / words, 1])


def test_head_noun_of_a_longer_label():
    f = mention_features(["office chair", "desk"], "the chair at the desk")
    np.testing.assert_array_equal(f[:, :3], [[0, 1, 1], [1, 1, 0]])


def test_first_named_class_and_presence():
    vocabulary = Vocabulary(["trash can", "door", "office chair", "chair", "table", "coffee table", "couch"])
    assert vocabulary.first_named("the trash bin near the door") == "trash can"
    assert vocabulary.first_named("the office chair by the table") == "office chair"   # longest at a position
    assert vocabulary.first_named("it is by the sofa") == "couch"
    assert vocabulary.first_named("something blue") is None
    assert vocabulary.first_named("the blue piano", extra=["piano"]) == "piano"      # the scene's own labels
    assert Vocabulary(["object", "towel"]).first_named("the object is a towel") == "towel"   # "object" names nothing
    def present(name, labels):
        return class_presence(name, [((label, 1.0),) for label in labels]) == 1.0

    assert present("trash can", ["door", "trashcan"])
    assert not present("trash can", ["door", "chair"])
    assert class_presence("trash can", [(("door", 1.0),), (("chair", 1.0),)]) == 0.0
    assert present("chair", ["office chair"]) and present("office chair", ["chair"])
    assert present("cabinet", ["kitchen cabinets"])
