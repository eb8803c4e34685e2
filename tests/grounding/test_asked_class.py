from scene3d.grounding.mentions import SentenceIndex, Vocabulary, mention_features


def test_a_leading_phrase_names_where_to_look_not_what():
    vocabulary = Vocabulary(["door", "case", "bed", "nightstand", "chair", "table", "whiteboard"])
    assert vocabulary.first_named("beside an entrance door to the room, is located a brown case.") == "case"
    assert vocabulary.first_named("Facing the bed, the left nightstand") == "nightstand"
    assert vocabulary.first_named("when you face the whiteboard, it is the chair on the right") == "chair"
    assert vocabulary.first_named("the chair, next to the table") == "chair"        # no leading phrase
    assert vocabulary.first_named("next to the table is a chair") == "table"         # no comma: no phrase to skip
    assert vocabulary.first_named("next to the door, something blue") == "door"     # nothing after it: the phrase
    assert SentenceIndex("on the left, a chair").lead == 3 and SentenceIndex("on the left,").lead == 0


def test_the_model_features_keep_the_order_they_were_trained_with():
    feats = mention_features(["door", "case"], "beside the door, a brown case")
    assert feats[0, 2] == 1.0 and feats[1, 2] == 0.0   # first_named: the door, as in training
