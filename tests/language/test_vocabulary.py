"""ScanNet vocabulary: plural and mass nouns, synonyms, colours, size words, and the forms
people would not say ("between a chair and a chair", "a door on the floor", "one of the vases"
in a closest clause)."""

import numpy as np
import pytest

from scene3d.colors import measured_color_names
from scene3d.errors import SceneFormatError
from scene3d.graph import build_scene_graph
from scene3d.language import LanguageConfig, generate_language
from scene3d.language.captions import object_caption
from scene3d.language.lexicon import count_phrase, indefinite, number, plural, singular, units
from scene3d.language.program import ObjectRef, RelationClause
from scene3d.language.realize import realize
from scene3d.language.vocab import DEFAULT_VOCABULARY, load_vocabulary
from scene3d.structures import Box, Scene, SceneObject


def obj(i, label, center, size, rgb=None):
    return SceneObject(i, label, Box(np.array(center, float), np.array(size, float)),
                       color_rgb=None if rgb is None else np.array(rgb, np.uint8))


def test_plural_and_mass_nouns():
    assert [number(w) for w in ("chair", "books", "kitchen cabinets", "clothes", "clothing", "glass")] == \
        ["singular", "plural", "plural", "plural", "mass", "singular"]
    assert plural("books") == "books" and plural("kitchen cabinets") == "kitchen cabinets" and plural("glass") == "glasses"
    assert indefinite("books") == "some books" and indefinite("clothing") == "some clothing"
    assert count_phrase(2, "books") == "two stacks of books" and count_phrase(1, "shoes") == "one pair of shoes"
    assert count_phrase(3, "kitchen cabinets") == "three rows of kitchen cabinets"
    assert units("chair") == "chairs" and units("clothes") == "piles of clothes"
    assert singular("kitchen cabinets") == "kitchen cabinet" and singular("boxes") == "box"


def test_synonyms_never_name_another_class_of_the_scene():
    names = DEFAULT_VOCABULARY.scene_names(["trash can", "couch", "table"])
    assert set(names["trash can"]) == {"trash bin", "garbage can", "garbage bin", "wastebasket"}
    assert names["couch"] == ("sofa",)
    # a recycling bin takes "... bin"; a sofa takes "sofa"
    names = DEFAULT_VOCABULARY.scene_names(["trash can", "recycling bin", "couch", "sofa"])
    assert set(names["trash can"]) == {"garbage can", "wastebasket"} and names["couch"] == ()
    assert DEFAULT_VOCABULARY.confusable(["book", "books", "chair", "office chair", "table"]) == \
        {"book", "books", "chair"}


def test_label_map_synonyms(tmp_path):
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("id\traw_category\tcategory\tnyu40id\n1\twardrobe closet\twardrobe\t39\n2\tbooks\tbook\t23\n"
                   "3\tcouch cushions\tcushion\t18\n4\tstack of chairs\tchair\t5\n")
    vocab = load_vocabulary(str(tsv))
    assert vocab.synonyms["wardrobe closet"] == ("wardrobe",) and vocab.synonyms["couch cushions"] == ("cushions",)
    assert "books" not in vocab.synonyms and "stack of chairs" not in vocab.synonyms
    assert vocab.synonyms["couch"] == ("sofa",)          # the hand list stays
    with pytest.raises(SceneFormatError, match="label map not found"):
        load_vocabulary(str(tmp_path / "none.tsv"))
    (tmp_path / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(SceneFormatError, match="raw_category"):
        load_vocabulary(str(tmp_path / "bad.tsv"))


def test_measured_colours_have_dead_bands():
    rgb = [[80, 59, 41], [145, 146, 139], [240, 240, 235], [20, 20, 22], [200, 170, 130], [60, 80, 160],
           [200, 40, 40], [128, 112, 94], [154, 172, 189]]
    assert measured_color_names(np.array(rgb, np.uint8)) == \
        ["brown", "gray", "white", "black", "beige", "blue", "red", None, None]
    scene = Scene("c", objects=[obj(1, "chair", (0, 0, 0.4), (0.5, 0.5, 0.8), (80, 59, 41)),
                                obj(2, "chair", (2, 0, 0.4), (0.5, 0.5, 0.8), (60, 80, 160))])
    assert build_scene_graph(scene).objects.color_names == ["brown", "blue"]


def test_size_words_relative_to_the_class():
    scene = Scene("z", objects=[obj(1, "cabinet", (0, 0, 1.0), (0.5, 0.5, 2.0)), obj(2, "cabinet", (2, 0, 0.4), (0.5, 0.5, 0.8)),
                                obj(3, "cabinet", (4, 0, 0.4), (1.5, 0.5, 0.8)), obj(4, "lamp", (6, 0, 0.5), (0.3, 0.3, 1.0))])
    g = build_scene_graph(scene)
    assert g.relations.size_word == ["tall", "small", "wide", None]
    refs = generate_language(g, seed=0, config=LanguageConfig(per_target=20, paraphrase=0.0, synonym_rate=0.0))
    assert {u.text.split(" the ")[-1].removeprefix("the ") for u in refs if u.relation == "attribute"} == \
        {"tall cabinet", "small cabinet", "wide cabinet"}


def _line_room():
    """Two chairs with a table between them, a door on the floor, a lamp and an 'object'."""
    return Scene("r", objects=[
        obj(1, "floor", (3, 3, -0.01), (6, 6, 0.02)), obj(2, "wall", (3, -0.01, 1.4), (6, 0.02, 2.8)),
        obj(3, "chair", (1.0, 2, 0.45), (0.5, 0.5, 0.9)), obj(4, "table", (2.0, 2, 0.4), (1.0, 0.8, 0.8)),
        obj(5, "chair", (3.0, 2, 0.45), (0.5, 0.5, 0.9)), obj(6, "door", (5.5, 0.1, 1.0), (0.9, 0.1, 2.0)),
        obj(7, "lamp", (2.0, 2, 0.95), (0.2, 0.2, 0.3)), obj(8, "object", (5, 5, 0.1), (0.2, 0.2, 0.2)),
        obj(9, "books", (2.2, 2.2, 0.85), (0.3, 0.2, 0.1)),
    ])


def test_between_two_of_a_kind_reads_the_two_chairs():
    g = build_scene_graph(_line_room())
    ref = ObjectRef("table", (), RelationClause("between", (ObjectRef("chair"), ObjectRef("chair"))))
    texts = {realize(ref, g, np.random.default_rng(k)) for k in range(12)}
    assert all("between the two chairs" in t for t in texts)
    table = g.index(4)
    caption, _ = object_caption(g, table, np.random.default_rng(0))
    assert "a chair and a chair" not in caption
    facts = {p for k in range(8) for p in [object_caption(g, table, np.random.default_rng(k))[0]]}
    assert any("between the two chairs" in f for f in facts)


def test_no_floor_or_wall_clause_and_no_uninformative_objects():
    g = build_scene_graph(_line_room())
    utts = generate_language(g, seed=0, config=LanguageConfig(per_target=8))
    door = [u for u in utts if u.target_id == 6]
    assert door and all("floor" not in u.text and "wall" not in u.text for u in door)
    assert all(u.target_id != 8 and 8 not in u.anchor_ids and "object" not in u.text.replace("objects:", "")
               for u in utts)
    caption = [u.text for u in utts if u.kind == "scene_caption"][0]
    assert caption.startswith("A room with 5 objects: two chairs, one table, one lamp and one stack of books.")
    assert "bookses" not in " ".join(u.text for u in utts) and "a books" not in " ".join(u.text for u in utts)


def test_closest_and_farthest_take_one_definite_anchor():
    objects = [obj(1, "floor", (5, 5, -0.01), (10, 10, 0.02))]
    objects += [obj(10 + k, "window", (1 + 2 * k, 0.1, 1.5), (1.0, 0.1, 1.0)) for k in range(4)]
    objects += [obj(20 + k, "vase", (1 + 3 * k, 4, 0.2), (0.2, 0.2, 0.4)) for k in range(3)]
    objects += [obj(30, "bed", (8, 8, 0.3), (2, 1.6, 0.6))]
    g = build_scene_graph(Scene("v", objects=objects))
    utts = generate_language(g, seed=0, config=LanguageConfig(per_target=20, per_scene=500, paraphrase=1.0))
    comparative = [u for u in utts if u.relation in ("closest", "farthest")]
    assert comparative and all(u.anchor_ids == (30,) and "the bed" in u.text for u in comparative)
    assert not any(u.text.startswith(("closest", "nearest", "farthest", "furthest", "most distant")) for u in utts)
    assert not any("one of the vases" in u.text for u in comparative)


def test_real_layouts_read_naturally(shared_data):
    from scene3d.io import load_gt_object_scenes

    path = shared_data / "scannet" / "meta" / "objects_train_scenes.json.gz"
    scenes = load_gt_object_scenes(path, scene_ids={"scene0000_00", "scene0001_00", "scene0002_00"})
    cfg = LanguageConfig(label_map=str(shared_data / "scannet" / "meta" / "scannetv2-labels.combined.tsv"),
                         source="generated_real")
    utts = [u for s in scenes.values() for u in generate_language(build_scene_graph(s), seed=0, config=cfg)]
    text = " ".join(u.text for u in utts)
    assert len(utts) > 150 and {u.source for u in utts} == {"generated_real"}
    for bad in ("bookses", "a books", "a kitchen cabinets", "a clothes", "one of the object", "the object",
                "on the floor", "between a chair and a chair"):
        assert bad not in text, bad
    assert all(u.target_label != "object" for u in utts if u.target_id is not None)
