"""Training augmentation of grounding: bystanders left out of a draw, sentence tokens hidden,
mirrored draws (the mirror itself: test_mirror.py)."""

import numpy as np
import pytest

from scene3d.graph import build_scene_graph
from scene3d.grounding import GroundingDataset, trainer
from scene3d.grounding.dataset import GroundingExample, TextCache
from scene3d.grounding.evaluation import model_forward
from scene3d.grounding.mirror import mirror_scene
from scene3d.grounding.trainer import GroundingTrainConfig, bystanders, draw_scene, train_grounding
from scene3d.language import LanguageConfig, generate_language
from scene3d.models.grounding import GroundingConfig, GroundingTransformer
from scene3d.models.text_encoder import minilm_text_encoder
from scene3d.structures import Box, Scene, SceneObject, Utterance
from scene3d.synth import SynthConfig, generate_scene


def _obj(i: int, label: str, x: float) -> SceneObject:
    return SceneObject(object_id=10 + i, label=label, box=Box(np.array([x, 0.0, 0.5]), np.array([0.5, 0.5, 1.0])))


@pytest.fixture()
def room() -> Scene:
    labels = ["chair", "chair", "table", "lamp", "office chair", "window", "door"]
    objects = [_obj(i, label, float(i)) for i, label in enumerate(labels)]
    points = np.array([[i, 0, 0.5] for i in range(7)], dtype=np.float32)
    return Scene("room", points=points, colors=np.zeros((7, 3), np.uint8),
                 instance_ids=np.array([o.object_id for o in objects], np.int32), objects=objects)


def _example(text: str, target: int, anchors: tuple[int, ...] = ()) -> GroundingExample:
    return GroundingExample(scene=0, target=target, utterance=Utterance("room", 10 + target, text), anchors=anchors)


def test_bystanders_are_the_objects_the_sentence_does_not_depend_on(room):
    # target chair 0: chair 1 (its class), the table (named), "office chair" (its head noun is
    # named) and the door (a listed anchor) stay; the lamp and the window may go
    ex = _example("the chair next to the table", 0, anchors=(6,))
    assert bystanders(room, ex).tolist() == [3, 5]
    # nothing named: everything but the target's class may go
    assert bystanders(room, _example("it is the one on the left", 2)).tolist() == [0, 1, 3, 4, 5, 6]


def test_draw_scene_keeps_the_referent_and_remaps_slots(room):
    ex = _example("the door beside the lamp", 6, anchors=(3,))
    data = GroundingDataset(scenes=[room], examples=[ex])
    rng = np.random.default_rng(0)
    assert draw_scene(data, ex, 0.0, rng).scene is room
    seen = set()
    for _ in range(40):
        drawn = draw_scene(data, ex, 0.9, rng)
        labels = [o.label for o in drawn.scene.objects]
        assert drawn.scene.objects[drawn.target].object_id == 16
        assert drawn.scene.objects[drawn.anchors[0]].label == "lamp"
        for old, new in enumerate(drawn.slots):
            assert (new < 0) == (room.objects[old].object_id not in {o.object_id for o in drawn.scene.objects})
            if new >= 0:
                assert drawn.scene.objects[new] is room.objects[old]
        # points of the objects left out are unassigned; the others keep their ids
        alive = {o.object_id for o in drawn.scene.objects}
        assert set(drawn.scene.instance_ids.tolist()) - {-1} == alive
        seen.add(len(labels))
    # the five bystanders (chairs, table, office chair, window) go, each with probability 0.9
    assert min(seen) == 2 and max(seen) > 2


def test_token_dropout_hides_tokens_but_not_the_first():
    cache = TextCache(minilm_text_encoder())
    model = GroundingTransformer(GroundingConfig(dim=16, layers=1, heads=2))
    scene = Scene("s", objects=[_obj(0, "chair", 0.0), _obj(1, "table", 1.0)])
    texts = ["the chair that is closest to the big wooden table by the window"] * 64
    seen = {}

    def spy(module, args):
        seen["mask"] = args[4].clone()

    handle = model.register_forward_pre_hook(spy)
    model_forward(model, cache, [scene] * 64, texts, [None] * 64)
    full = seen["mask"]
    model_forward(model, cache, [scene] * 64, texts, [None] * 64, rng=np.random.default_rng(1), token_dropout=0.5)
    handle.remove()
    hidden = full & ~seen["mask"]
    assert not (seen["mask"] & ~full).any() and seen["mask"][:, 0].all()
    share = hidden.sum().item() / (full[:, 1:].sum().item())
    assert 0.4 < share < 0.6


def test_augmented_training_runs_and_bad_shares_are_refused(tmp_path, monkeypatch):
    mirrored = []
    monkeypatch.setattr(trainer, "mirror_scene", lambda scene: mirrored.append(scene) or mirror_scene(scene))
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    scenes = {s.scene_id: s for s in (generate_scene(f"g{i}", 70 + i, None, cfg) for i in range(2))}
    utts = [u for s in scenes.values() for u in generate_language(build_scene_graph(s), seed=1,
                                                                   config=LanguageConfig(per_target=1))]
    data = GroundingDataset.build(scenes, utts)
    tcfg = GroundingTrainConfig(steps=3, batch_size=4, checkpoint_every=3, eval_every=3, object_dropout=0.5,
                                token_dropout=0.3, mirror=0.5, model=GroundingConfig(dim=16, layers=1, heads=2))
    train_grounding(data, tmp_path, tcfg, progress=False)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) > 1 and all(np.isfinite(float(x)) for x in rows[-1].split(",")[1:6])
    assert 0 < len(mirrored) < 3 * 4                 # about half of the 12 draws were mirrored
    for bad in ({"object_dropout": 1.0}, {"token_dropout": -0.1}, {"mirror": 1.0}):
        with pytest.raises(ValueError, match="must be in"):
            GroundingTrainConfig(**bad)
