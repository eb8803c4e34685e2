import numpy as np

from scene3d.repository.query import QueryFacts, fact_score, parse_query, scene_facts
from scene3d.structures import Box, Scene, SceneMeta, SceneObject

LABELS = frozenset({"bed", "lamp", "nightstand", "cup", "vase", "window", "plant", "desk", "chair", "refrigerator",
                    "kitchen counter", "tv", "tv stand"})


def test_counts_colours_relations_and_synonyms_are_read():
    f = parse_query("A kitchen with a fridge and 3 chairs; a red cup on the kitchen counter", LABELS)
    assert f.room == "kitchen" and f.counts == {"chair": 3} and f.colors == {("red", "cup")}
    assert f.present == {"refrigerator", "cup", "kitchen counter"}
    assert f.relations == {("cup", "on", "kitchen counter")}
    f = parse_query("A bedroom with two bedside tables. A nightstand is supporting the vase.", LABELS)
    assert f.room == "bedroom" and f.counts == {"nightstand": 2} and f.relations == {("vase", "on", "nightstand")}
    assert "bed" not in f.present  # "bedroom" is a room, not a bed
    f = parse_query("an office where a plant stands next to the window", LABELS)
    assert f.room == "office" and f.relations == {("plant", "next_to", "window")}
    assert parse_query("a desk under the window", LABELS).relations == {("desk", "under", "window")}
    assert len(parse_query("something cosy", LABELS)) == 0


def _obj(i, label, x, z=0.4, size=0.5, colour=None):
    return SceneObject(i, label, Box(np.array([x, 0.0, z]), np.full(3, size)), color_name=colour)


def test_scene_facts_and_scores():
    room = Scene("b", objects=[_obj(1, "nightstand", 0.0), _obj(2, "nightstand", 3.0),
                               _obj(3, "vase", 0.0, z=0.75, size=0.2, colour="red"), _obj(4, "bed", 1.5, size=1.0),
                               _obj(5, "wall", 0.0, size=4.0)], meta=SceneMeta(room_type="bedroom"))
    facts = scene_facts(room)
    assert facts["counts"] == {"nightstand": 2, "vase": 1, "bed": 1}  # walls left out
    assert "red vase" in facts["colors"] and "vase|on|nightstand" in facts["relations"]
    asked = parse_query("a bedroom with two nightstands and a red vase on a nightstand", LABELS | {"bed"})
    assert fact_score(asked, facts, "bedroom") == 1.0
    assert fact_score(asked, facts, "kitchen") == 1 - 1 / len(asked)
    three = parse_query("three nightstands", LABELS)
    assert fact_score(three, facts, "bedroom") == 0.3  # the class is there, in another number
    assert fact_score(QueryFacts(), facts, "bedroom") == 0.0
