import numpy as np

from scene3d.graph import Viewpoint, build_scene_graph
from scene3d.language import LanguageConfig, generate_language
from scene3d.language.lexicon import count_phrase, indefinite, plural
from scene3d.language.program import ObjectRef, RelationClause
from scene3d.synth import ROOM_TYPES, SynthConfig, generate_scene

SMALL = SynthConfig(num_points=1500, min_object_points=5, num_frames=0)


def independent_matches(g, ref: ObjectRef) -> set[int]:
    """A second, plain-Python reading of a referral program over the networkx graph."""
    nodes = g.nodes
    out = set()
    for n, data in nodes(data=True):
        if data["label"] != ref.label:
            continue
        ok = True
        for key, value in ref.attributes:
            if key == "superlative":
                ok &= value in data["superlatives"]
            elif key == "size":
                ok &= data["size_class"] == value
            else:
                ok &= data[key] == value
        if ok and ref.clause is not None:
            rel = ref.clause.relation
            if rel == "middle":
                ok = data["middle"]
            elif rel == "between":
                a_ids, b_ids = (independent_matches(g, a) for a in ref.clause.anchors)
                ok = any(d["relation"] == "between" and ((v in a_ids and d["other"] in b_ids) or (v in b_ids and d["other"] in a_ids))
                         for _, v, d in g.out_edges(n, data=True))
            else:
                anchors = independent_matches(g, ref.clause.anchors[0]) - {n}
                inverse = {"supporting": "on", "contains": "inside", "below": "above", "embeds": "embedded",
                           "mounting": "mounted_on"}
                if rel in inverse:  # "n supporting a" == "a on n"
                    ok = any(g.has_edge(a, n, key=inverse[rel]) for a in anchors)
                else:
                    ok = any(g.has_edge(n, a, key=rel) for a in anchors)
        if ok:
            out.add(n)
    return out


def test_hundreds_of_referrals_each_match_exactly_their_target():
    from scene3d.language import referrals as R

    checked = 0
    for i, room in enumerate(ROOM_TYPES * 2):
        scene = generate_scene(f"s{i}", 200 + i, room, SMALL)
        vp = Viewpoint(np.array([0.5, 0.5, 1.5]), np.array([1.0, 1.0, 0.0]))
        graph = build_scene_graph(scene, vp)
        rng = np.random.default_rng(i)
        counts = {k: graph.objects.labels.count(graph.objects.labels[k]) for k in range(len(graph.objects))}
        chosen = R.select(R.find_candidates(graph, rng, 1), rng, 4, 200, counts)
        nxg = graph.to_networkx()
        for cand in chosen:
            target_id = int(graph.objects.ids[cand.target])
            assert independent_matches(nxg, cand.program) == {target_id}, cand.program
            checked += 1
    assert checked >= 300


def test_generated_records():
    scene = generate_scene("s", 3, "dining room", SMALL)
    vp = Viewpoint(np.array([0.3, 0.3, 1.5]), np.array([1.0, 0.8, -0.2]))
    utts = generate_language(build_scene_graph(scene, vp), seed=1)
    refs = [u for u in utts if u.kind == "referral"]
    assert len(refs) >= 20
    labels = {o.object_id: o.label for o in scene.objects}
    for u in refs:
        assert labels[u.target_id] == u.target_label
        assert all(a in labels for a in u.anchor_ids)
        same = sum(1 for o in scene.objects if o.label == u.target_label)
        assert u.hard == (same - 1 > 1)
        assert u.view_dependent == u.relation.startswith("ego_")
        assert (u.viewpoint is not None) == u.view_dependent
    assert any(u.paraphrased for u in refs)
    assert sum(u.kind == "object_caption" for u in utts) == sum(o.label not in ("wall", "floor", "ceiling") for o in scene.objects)
    caption = [u for u in utts if u.kind == "scene_caption"][0]
    assert caption.target_id is None and caption.text.startswith("A dining room with")
    assert generate_language(build_scene_graph(scene, vp), seed=1) == utts  # deterministic


def test_lexicon():
    assert plural("chair") == "chairs" and plural("bookshelf") == "bookshelves" and plural("box") == "boxes"
    assert plural("trash can") == "trash cans" and plural("dining table") == "dining tables"
    assert indefinite("armchair") == "an armchair" and count_phrase(2, "cup") == "two cups"


def test_empty_scene_gives_only_a_scene_caption():
    from scene3d.structures import Scene

    utts = generate_language(Scene("e"), config=LanguageConfig())
    assert [u.kind for u in utts] == ["scene_caption"]


def test_program_structure():
    ref = ObjectRef("cup", (), RelationClause("on", (ObjectRef("table", (), RelationClause("near", (ObjectRef("window"),))),)))
    assert [a.label for a in ref.anchor_refs()] == ["table", "window"]
