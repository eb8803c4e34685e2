"""Grounding on predicted objects: class distributions in the model, the flag, the detection
protocol (IoU with the true box) and the stand-in proposals it is measured with."""

import copy
import json

import numpy as np
import pytest
import torch

from scene3d.cli import main
from scene3d.geometry.boxes import aabb_iou
from scene3d.grounding import Grounder, GroundingDataset
from scene3d.grounding.data import class_distribution, sharpen_labels
from scene3d.grounding.detection import evaluate_detection
from scene3d.grounding.evaluation import model_forward
from scene3d.grounding.mentions import class_presence, mention_features
from scene3d.grounding.standins import StandInNoise, standin_proposals
from scene3d.io import save_scene, write_utterances_jsonl
from scene3d.structures import Box, Scene, SceneObject, Utterance
from tests.tiny_scene import make_tiny_scene


@pytest.fixture(scope="module")
def grounder():
    return Grounder.from_checkpoint(None, device="cpu")


def _box(center, size) -> Box:
    return Box(center=np.array(center, dtype=float), size=np.array(size, dtype=float), yaw=0.0)


def _proposal(i, center, size, scores) -> SceneObject:
    return SceneObject(object_id=i, label=scores[0][0], box=_box(center, size), score=0.9, label_scores=scores)


def test_class_distribution_and_presence():
    annotated = SceneObject(object_id=1, label="chair", box=_box((0, 0, 0), (1, 1, 1)))
    assert class_distribution(annotated) == (("chair", 1.0),)
    predicted = _proposal(2, (0, 0, 0), (1, 1, 1), (("chair", 0.6), ("stool", 0.2)))
    dist = class_distribution(predicted)
    assert [name for name, _ in dist] == ["chair", "stool"] and [w for _, w in dist] == pytest.approx([0.75, 0.25])
    scene = Scene("s", objects=[annotated, predicted])
    assert sharpen_labels(scene, 1.0).objects == scene.objects
    half = sharpen_labels(scene, 0.5).objects
    assert half[0] == annotated and [w for _, w in half[1].label_scores] == pytest.approx([0.9, 0.1])   # .36 : .04
    assert sharpen_labels(scene, 0.0).objects[1].label_scores == (("chair", 1.0),)
    with pytest.raises(ValueError, match="temperature"):
        sharpen_labels(scene, -1.0)
    two = [(("piano", 0.4), ("table", 0.6)), (("table", 0.6), ("piano", 0.4))]
    assert class_presence("piano", two) == pytest.approx(1 - 0.6 * 0.6)      # independent objects
    assert class_presence("piano", two[:1]) == pytest.approx(0.4)
    assert class_presence("office chair", [(("chair", 0.3), ("office chair", 0.5))]) == pytest.approx(0.8)


def test_annotated_objects_take_the_path_they_always_took(grounder):
    """Bit-identical to one class embedding per object and its mention features (the model's
    inputs before class distributions), so the packaged model's numbers do not move."""
    scene = make_tiny_scene()
    text = "the lamp on the table"
    out, objects = model_forward(grounder.model, grounder.cache, [scene], [text], [None])
    assert objects.classes is None
    labels = [o.label for o in scene.objects]
    embed = grounder.cache.embed(sorted(set(labels)))
    table = dict(zip(sorted(set(labels)), embed))
    label_embed = torch.stack([table[x] for x in labels])[None]
    tokens, mask, pooled = grounder.cache.batch([text])
    ref = grounder.model(objects.geometry, label_embed, objects.mask, tokens, mask, pooled,
                         mentions=torch.from_numpy(mention_features(labels, text))[None])
    assert torch.equal(out.logits, ref.logits) and torch.equal(out.class_match, ref.class_match)
    # the same objects as certain predictions (one class, probability 1) go through the mixture path: same answer
    certain = Scene(scene.scene_id, objects=[SceneObject(object_id=o.object_id, label=o.label, box=o.box,
                                                         color_rgb=o.color_rgb, score=1.0,
                                                         label_scores=((o.label, 1.0),))
                                             for o in scene.objects])
    mixed, batch = model_forward(grounder.model, grounder.cache, [certain], [text], [None])
    assert batch.classes is not None
    torch.testing.assert_close(mixed.logits, ref.logits, rtol=1e-5, atol=1e-5)


def test_label_mixture_changes_the_answer(grounder):
    """Two proposals: B's top class is "lamp" (0.34, the rest elsewhere), A's top class is
    "table" but it is nearly as likely a lamp (0.49). Top label only, "the lamp" is B; with the
    mixture, A carries more lamp and is the answer."""
    a = _proposal(0, (1.0, 1.0, 0.8), (0.3, 0.3, 0.5), (("table", 0.5), ("lamp", 0.49), ("bed", 0.01)))
    b = _proposal(1, (3.0, 2.0, 0.8), (0.3, 0.3, 0.5), (("lamp", 0.34), ("sofa", 0.33), ("bed", 0.33)))
    floor = SceneObject(object_id=2, label="floor", box=_box((2, 1.5, 0), (4, 3, 0.02)), score=0.9,
                        label_scores=(("floor", 1.0),))
    scene = Scene("mix", objects=[a, b, floor])
    top_only = Scene("mix", objects=[SceneObject(object_id=o.object_id, label=o.label, box=o.box, score=o.score)
                                     for o in scene.objects])
    assert grounder.ground(top_only, "the lamp").best.object_id == 1
    mixed = grounder.ground(scene, "the lamp")
    assert mixed.best.object_id == 0 and mixed.best.label == "table"


def test_flag_reads_the_class_distribution(grounder):
    """The query's class counts as present when some object is of it with probability >= 0.5
    (objects independently); with a threshold above every class match the flag rests on that alone."""
    strict = copy.copy(grounder)
    strict.class_match_threshold = 2.0
    one = [_proposal(0, (1, 1, 0.5), (0.5, 0.5, 1), (("cabinet", 0.55), ("bookshelf", 0.45)))]
    two = [*one, _proposal(1, (3, 1, 0.5), (0.5, 0.5, 1), (("cabinet", 0.55), ("bookshelf", 0.45)))]
    assert not strict.ground(Scene("s", objects=one), "the cabinet").low_confidence
    alone = strict.ground(Scene("s", objects=one), "the bookshelf")
    assert alone.asked_class == "bookshelf" and alone.low_confidence         # named among the candidates; p = 0.45
    assert not strict.ground(Scene("s", objects=two), "the bookshelf").low_confidence   # 1 - 0.55^2 = 0.70


def _detection_case():
    truth = Scene("room", objects=[
        SceneObject(object_id=5, label="bed", box=_box((1.0, 1.0, 0.3), (2.0, 1.6, 0.6))),
        SceneObject(object_id=6, label="table", box=_box((3.5, 2.5, 0.4), (1.0, 0.6, 0.8))),
        SceneObject(object_id=7, label="chair", box=_box((3.5, 1.5, 0.45), (0.5, 0.5, 0.9))),
    ])
    utts = [Utterance(scene_id="room", target_id=5, text="the bed", utterance_id="u0", source="scanrefer"),
            Utterance(scene_id="room", target_id=7, text="the chair", utterance_id="u1", source="scanrefer")]
    return truth, GroundingDataset.build({"room": truth}, utts)


def test_detection_protocol_scores_the_true_box(grounder):
    truth, data = _detection_case()
    near = _box((1.1, 1.0, 0.3), (2.0, 1.6, 0.6))              # IoU 0.905 with the bed
    off = _box((1.9, 1.0, 0.3), (2.0, 1.6, 0.6))               # IoU 0.29: counts at 0.25, not at 0.5
    assert aabb_iou(near, truth.object(5).box) > 0.5 and 0.25 <= aabb_iou(off, truth.object(5).box) < 0.5
    wrong_chair = _box((1.0, 2.5, 0.45), (0.5, 0.5, 0.9))       # a chair proposal nowhere near the chair
    for bed, hit50 in ((near, 1.0), (off, 0.0)):
        props = Scene("room", objects=[_proposal(0, bed.center, bed.size, (("bed", 0.9), ("sofa", 0.1))),
                                       _proposal(1, wrong_chair.center, wrong_chair.size, (("chair", 0.8),)),
                                       _proposal(2, (3.5, 2.5, 0.4), (1.0, 0.6, 0.8), (("table", 0.9),))])
        report = evaluate_detection(grounder.model, grounder.cache, data, {"room": props})
        assert report.true_objects.acc50 == 1.0                 # among the true objects both are found
        assert report.proposals.n == 2 and report.proposals.acc25 == 0.5 and report.proposals.acc50 == hit50 / 2
        assert report.upper25 == 0.5 and report.upper50 == hit50 / 2        # no proposal covers the chair
    empty = evaluate_detection(grounder.model, grounder.cache, data, {})
    assert empty.proposals.acc25 == 0.0 and empty.without_proposals == 2 and empty.upper25 == 0.0


def test_standin_proposals_draw_the_stated_noise():
    scene = make_tiny_scene()
    exact = standin_proposals(scene, StandInNoise(miss=0, merge=0, split=0, jitter=0, label_swap=0))
    assert len(exact.objects) == len(scene.objects) and all(o.predicted for o in exact.objects)
    for o in scene.objects:
        best = max(exact.objects, key=lambda p: aabb_iou(p.box, o.box))
        assert aabb_iou(best.box, o.box) == pytest.approx(1.0) and best.label_scores[0][0] == o.label
    swapped = standin_proposals(scene, StandInNoise(miss=0, merge=0, split=0, jitter=0, label_swap=1.0))
    for o in scene.objects:
        best = max(swapped.objects, key=lambda p: aabb_iou(p.box, o.box))
        if len(best.label_scores) > 1:
            assert best.label != o.label and best.label_scores[1][0] == o.label
    assert standin_proposals(scene, StandInNoise(miss=1.0, merge=0, split=0)).objects == []
    split = standin_proposals(scene, StandInNoise(miss=0, merge=0, split=1.0, jitter=0))
    assert len(split.objects) == 2 * len(scene.objects)
    assert all(aabb_iou(p.box, o.box) <= 0.5 + 1e-9 for p in split.objects for o in scene.objects)
    merged = standin_proposals(scene, StandInNoise(miss=0, merge=1.0, split=0, jitter=0))
    assert len(merged.objects) == (len(scene.objects) + 1) // 2
    assert standin_proposals(scene, seed=3).objects == standin_proposals(scene, seed=3).objects
    calibrated = StandInNoise(miss=0, merge=0, split=0, jitter=0, calibrated=True)
    top, right = [], []
    for seed in range(150):
        for p in standin_proposals(scene, calibrated, seed=seed).objects:
            truth = max(scene.objects, key=lambda o: aabb_iou(p.box, o.box))
            top.append(p.label_scores[0][1])
            right.append(p.label == truth.label)
    assert abs(np.mean(right) - np.mean(top)) < 0.05            # the top score is the chance the top class is right
    with pytest.raises(ValueError, match="miss"):
        StandInNoise(miss=1.5)


def test_eval_grounding_on_proposals_of_scene_folders(tmp_path, capsys):
    """The synthetic path: true objects and proposals as folders of scene folders, the
    language as JSONL; the detection table and metrics.json carry both protocols."""
    truth, data = _detection_case()
    save_scene(truth, tmp_path / "truth")
    save_scene(standin_proposals(truth, StandInNoise(miss=0, merge=0, split=0, jitter=0.02)), tmp_path / "props")
    write_utterances_jsonl(tmp_path / "language.jsonl", [ex.utterance for ex in data.examples])
    metrics = tmp_path / "m.json"
    args = ["eval-grounding", f"utterances={tmp_path / 'language.jsonl'}", f"objects={tmp_path / 'truth'}",
            "device=cpu"]
    assert main([*args, f"proposals={tmp_path / 'props'}", f"out={metrics}"]) == 0
    out = capsys.readouterr().out
    assert "detection protocol" in out and "predicted objects" in out and "upper bound" in out
    record = json.loads(metrics.read_text())["detection"]
    assert record["true_objects"]["n"] == record["proposals"]["n"] == 2
    assert record["upper_bound"]["acc50"] == 1.0 and 0.0 <= record["proposals"]["acc50"] <= 1.0
    assert main([*args, f"proposals={tmp_path / 'props'}", "label_temperature=0", f"out={metrics}"]) == 0
    assert json.loads(metrics.read_text())["detection"]["upper_bound"]["acc50"] == 1.0
    assert main([*args, f"proposals={tmp_path / 'props'}", "label_temperature=-1"]) == 2
    assert "label_temperature" in capsys.readouterr().err
    assert main([*args, f"proposals={tmp_path / 'nothing'}"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([*args, "proposals=true"]) == 2                 # the truth here is object lists without points
    assert "no points to propose objects from" in capsys.readouterr().err
