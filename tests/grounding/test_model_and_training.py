import numpy as np
import pytest
import torch

from scene3d.errors import ConfigError
from scene3d.graph import build_scene_graph
from scene3d.grounding import Grounder, GroundingDataset
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.language import LanguageConfig, generate_language
from scene3d.models.grounding import (
    GEOMETRY_DIM,
    MENTION_DIM,
    RELATION_DIM,
    GroundingConfig,
    GroundingEnsemble,
    GroundingTransformer,
    pair_features,
    relation_features,
)
from scene3d.structures import Scene
from scene3d.synth import SynthConfig, generate_scene

TINY = GroundingConfig(dim=32, layers=1, heads=2)


def test_model_masks_padding_and_is_order_equivariant():
    torch.manual_seed(0)
    model = GroundingTransformer(TINY).eval()
    g, le = torch.randn(1, 6, GEOMETRY_DIM), torch.randn(1, 6, 384)
    mask = torch.ones(1, 6, dtype=torch.bool)
    mask[0, 5] = False
    text, tmask, pooled = torch.randn(1, 4, 384), torch.ones(1, 4, dtype=torch.bool), torch.randn(1, 384)
    mentions = torch.rand(1, 6, MENTION_DIM)
    out = model(g, le, mask, text, tmask, pooled, mentions=mentions)
    assert out.logits.shape == (1, 6) and torch.isinf(out.logits[0, 5]) and torch.isfinite(out.logits[0, :5]).all()
    perm = torch.tensor([3, 0, 4, 1, 2, 5])
    out2 = model(g[:, perm], le[:, perm], mask[:, perm], text, tmask, pooled, mentions=mentions[:, perm])
    torch.testing.assert_close(out2.logits, out.logits[:, perm])
    assert out.object_embed.shape == (1, 6, 384) and out.scene_embed.shape == (1, 384)


def test_ensemble_averages_the_members_log_probabilities():
    torch.manual_seed(0)
    a, b = GroundingTransformer(TINY).eval(), GroundingTransformer(TINY).eval()
    g, le = torch.randn(2, 5, GEOMETRY_DIM), torch.randn(2, 5, 384)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    args = (g, le, mask, torch.randn(2, 4, 384), torch.ones(2, 4, dtype=torch.bool), torch.randn(2, 384))
    mentions = torch.rand(2, 5, MENTION_DIM)
    with torch.no_grad():
        oa, ob = a(*args, mentions=mentions), b(*args, mentions=mentions)
        out = GroundingEnsemble([a, b])(*args, mentions=mentions)
    expected = (oa.logits.log_softmax(-1) + ob.logits.log_softmax(-1)) / 2
    torch.testing.assert_close(out.logits[mask], expected[mask])
    assert torch.isinf(out.logits[1, 3:]).all() and torch.isinf(out.anchor_logits[1, 3:]).all()
    torch.testing.assert_close(out.class_match, (oa.class_match + ob.class_match) / 2)
    torch.testing.assert_close(out.scene_embed.norm(dim=-1), torch.ones(2))
    # one member: its own answer, normalised
    torch.testing.assert_close(GroundingEnsemble([a])(*args, mentions=mentions).logits[mask], oa.logits.log_softmax(-1)[mask])
    with pytest.raises(ValueError, match="one GroundingConfig"):
        GroundingEnsemble([a, GroundingTransformer(GroundingConfig(dim=16, layers=1, heads=2))])
    with pytest.raises(ValueError, match="at least one"):
        GroundingEnsemble([])


def test_pair_features_analytic():
    # i: a 1 m cube on the floor at the origin; j: a 2 x 2 x 0.5 m box at x = 0.5 on top of it,
    # its front facing +y
    g = torch.zeros(1, 2, GEOMETRY_DIM)
    g[0, 0, :6] = torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0, 1.0])
    g[0, 1, :6] = torch.tensor([0.5, 0.0, 1.25, 2.0, 2.0, 0.5])
    g[0, 1, 9:12] = torch.tensor([0.0, 1.0, 1.0])
    f = pair_features(g)[0]
    assert f.shape == (2, 2, 13)
    torch.testing.assert_close(f[0, 1, :3], torch.tensor([0.5, 0.0, 0.75]))         # offset i -> j
    torch.testing.assert_close(f[0, 1, 3:7], torch.tensor([0.5, 0.8125 ** 0.5, 1.0, 0.0]))   # distances, direction
    # i seen from j (front +y, so its left is -x): i is 0.5 m to j's left, 0 m ahead
    torch.testing.assert_close(f[0, 1, 7:9], torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(f[1, 0, 7:9], torch.zeros(2))                        # i has no front
    torch.testing.assert_close(f[1, 0, 9:11], torch.tensor([0.0, -1.5]))            # j rests on i: gap 0
    torch.testing.assert_close(f[0, 1, 11], torch.tensor(1.0))                      # j covers all of i
    torch.testing.assert_close(f[1, 0, 11], torch.tensor(0.25))                     # i covers 1/4 of j's footprint
    torch.testing.assert_close(f[0, 1, 12], torch.tensor(-np.log(2.0), dtype=torch.float32))


def test_relation_features_analytic():
    # three chairs (one class), a table the sentence names, a lamp on the table, a padding slot
    boxes = [([0.0, 0.0, 0.5], [0.5, 0.5, 1.0]),     # chair 0: gap 0.5 m to the table along x
             ([3.0, 0.0, 0.6], [0.6, 0.6, 1.2]),     # chair 1: the largest and highest, gap 1.45 m along x
             ([1.0, 2.0, 0.4], [0.4, 0.4, 0.8]),     # chair 2: the smallest, gap 1.55 m along y
             ([1.0, 0.0, 0.5], [0.5, 0.5, 1.0]),     # the table (named), 1 m high
             ([1.0, 0.0, 1.2], [0.2, 0.2, 0.4]),     # a lamp standing on the table (named)
             ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])]     # padding
    g = torch.zeros(1, 6, GEOMETRY_DIM)
    for i, (c, s) in enumerate(boxes):
        g[0, i, :3], g[0, i, 3:6] = torch.tensor(c), torch.tensor(s)
    chair, table, lamp = torch.randn(384), torch.randn(384), torch.randn(384)
    labels = torch.stack([chair, chair, chair, table, lamp, torch.zeros(384)])[None]
    mask = torch.tensor([[True] * 5 + [False]])
    mentions = torch.zeros(1, 6, MENTION_DIM)
    mentions[0, 3:5, 0] = 1.0                                                      # "... the lamp on the table"
    f = relation_features(g, labels, mask, mentions)[0]
    assert f.shape == (6, RELATION_DIM) and (f[5] == 0).all()                      # padding: zeros
    torch.testing.assert_close(f[:3, 0], torch.ones(3))                           # every chair has an anchor
    torch.testing.assert_close(f[:3, 1], torch.exp(-torch.tensor([0.5, 1.45, 1.55])))  # the table is each one's nearest
    torch.testing.assert_close(f[:3, 2], torch.tensor([0.0, 0.95 / 1.05, 1.0]))   # 0: the nearest chair
    assert f[1, 3] == 1.0 and f[2, 3] == 0.0 and f[1, 4] == 1.0 and f[2, 4] == 0.0  # size and height ranks
    torch.testing.assert_close(f[:3, 6], torch.full((3,), 1 / 3))                 # three chairs
    torch.testing.assert_close(f[3:5, 6], torch.ones(2))
    assert f[3, 3] == 0.5 and f[3, 2] == 0.5                                      # alone in its class
    assert f[4, 7] == 1.0 and f[3, 7] == 1.0 and (f[:3, 7] == 0).all()             # the lamp rests on the table
    # without a named object nothing anchors
    assert (relation_features(g, labels, mask, torch.zeros_like(mentions))[0, :5, :3]
            == torch.tensor([0.0, 0.0, 0.5])).all()


def test_relation_model_weighs_the_features_by_the_sentence():
    torch.manual_seed(0)
    model = GroundingTransformer(GroundingConfig(dim=32, layers=1, heads=2, relations=True)).eval()
    g, le = torch.randn(1, 4, GEOMETRY_DIM), torch.randn(1, 4, 384)
    mask, mentions = torch.ones(1, 4, dtype=torch.bool), torch.zeros(1, 4, MENTION_DIM)
    args = (g, le, mask, torch.randn(1, 3, 384), torch.ones(1, 3, dtype=torch.bool), torch.randn(1, 384))
    with torch.no_grad():
        before = model(*args, mentions=mentions).logits
        model.relation_weights.bias.add_(1.0)                                      # sentence-read weights move the score
        after = model(*args, mentions=mentions).logits
    relations = relation_features(g, le, mask, mentions)
    torch.testing.assert_close(after - before, relations.sum(-1))
    with pytest.raises(ValueError, match="needs mentions"):
        GroundingConfig(mentions=False, relations=True)


@pytest.fixture(scope="module")
def tiny_data():
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    scenes = {s.scene_id: s for s in (generate_scene(f"g{i}", 50 + i, None, cfg) for i in range(3))}
    utts = [u for s in scenes.values() for u in generate_language(build_scene_graph(s), seed=1,
                                                                   config=LanguageConfig(per_target=2))]
    return scenes, GroundingDataset.build(scenes, utts)


def test_train_resume_and_ground(tiny_data, tmp_path):
    scenes, data = tiny_data
    assert data.examples and data.object_captions and data.scene_captions and not data.skipped
    cfg = GroundingTrainConfig(steps=6, batch_size=8, checkpoint_every=3, eval_every=3, model=TINY)
    train_grounding(data, tmp_path, cfg, val=data, progress=False)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step") and (tmp_path / "metrics.png").is_file()
    # resume: a longer run continues from step 6, it does not start over
    cfg.steps = 9
    train_grounding(data, tmp_path, cfg, progress=False)
    steps = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "checkpoints").glob("step_*"))
    assert steps[-1] == 9
    older = Grounder.from_checkpoint(tmp_path / "checkpoints" / f"step_{steps[0]:08d}").model.state_dict()
    newer = Grounder.from_checkpoint(tmp_path).model.state_dict()
    assert steps[0] < 9 and any(not torch.equal(older[k], newer[k]) for k in newer)
    grounder = Grounder.from_checkpoint(tmp_path)
    scene = next(iter(scenes.values()))
    result = grounder.ground(scene, "the chair next to the table", top_k=3)
    assert len(result.ranked) == 3 and result.ranked[0].score >= result.ranked[1].score
    assert {r.object_id for r in result.ranked} <= {o.object_id for o in scene.objects}
    assert result.to_json()["ranked"][0]["center"] == list(result.ranked[0].box.center)
    assert grounder.ground(Scene("empty"), "the chair").ranked == []
    with pytest.raises(ValueError, match="empty"):
        grounder.ground(scene, "  ")


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a grounding run"):
        Grounder.from_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text('{"model": {"dim": 32, "layers": 1, "heads": 2}}')
    with pytest.raises(ConfigError, match="no checkpoint"):
        Grounder.from_checkpoint(tmp_path)


def test_dataset_reports_missing_targets(tiny_data):
    scenes, _ = tiny_data
    from scene3d.structures import Utterance

    ds = GroundingDataset.build(scenes, [Utterance("g0", 999, "the thing"), Utterance("nope", 1, "x")])
    assert not ds.examples and [r.split()[0] for _, r in ds.skipped] == ["target", "scene"]
    assert np.all([len(s.objects) > 0 for s in ds.scenes])


def test_low_confidence_when_the_query_names_nothing_in_the_scene(tiny_data):
    from scene3d.grounding import TextCache
    from scene3d.grounding.evaluation import calibrate_confidence
    from scene3d.models.text_encoder import minilm_text_encoder

    _, data = tiny_data
    torch.manual_seed(0)
    model = GroundingTransformer(TINY)
    with torch.no_grad():  # the class query is the sentence's own embedding: no training needed
        model.class_proj.weight.copy_(torch.eye(384))
        model.class_proj.bias.zero_()
    cache = TextCache(minilm_text_encoder())
    cal = calibrate_confidence(model, cache, data)
    assert cal["true_positive_rate"] > 0.8 and cal["true_negative_rate"] > 0.8 and cal["negatives"] > 50
    grounder = Grounder(model, cache.encoder, cal["class_match_threshold"])
    scene = next(s for s in data.scenes if "toilet" in {o.label for o in s.objects})
    answer = grounder.ground(scene, "the toilet")
    assert not answer.low_confidence and answer.class_match >= cal["class_match_threshold"]
    assert grounder.ground(scene, "the grand piano").low_confidence
    assert not Grounder(model, cache.encoder).ground(scene, "the grand piano").low_confidence  # uncalibrated


def test_point_mode_trains_and_grounds(tiny_data, tmp_path):
    scenes, data = tiny_data
    cfg = GroundingTrainConfig(steps=2, batch_size=4, checkpoint_every=2, eval_every=2,
                               model=GroundingConfig(dim=32, layers=1, heads=2, points=16))
    model = train_grounding(data, tmp_path, cfg, progress=False)
    assert model.point_encoder is not None
    grounder = Grounder.from_checkpoint(tmp_path)
    scene = data.scenes[0]
    result = grounder.ground(scene, "the chair")
    assert len(result.ranked) == 5
    # the same objects without points (an object list) still ground, from boxes and labels
    listed = Scene(scene.scene_id, objects=scene.objects)
    assert len(grounder.ground(listed, "the chair").ranked) == 5
    with pytest.raises(ValueError, match="pass points"):
        model(torch.zeros(1, 2, GEOMETRY_DIM), torch.zeros(1, 2, 384), torch.ones(1, 2, dtype=torch.bool),
              torch.zeros(1, 1, 384), torch.ones(1, 1, dtype=torch.bool), torch.zeros(1, 384))


def test_anchor_loss():
    from scene3d.grounding.losses import anchor_loss

    logits = torch.tensor([[0.0, 0.0, float("-inf")], [1.0, 2.0, 3.0]])
    torch.testing.assert_close(anchor_loss(logits, [(0,), ()]), torch.tensor(np.log(2.0), dtype=torch.float32))
    p = logits[1].softmax(-1)
    torch.testing.assert_close(anchor_loss(logits, [(), (0, 2)]), -(p[0].log() + p[2].log()) / 2)
    assert anchor_loss(logits, [(), ()]) == 0


def test_grounder_reports_anchors_above_the_threshold(tiny_data):
    _, data = tiny_data
    torch.manual_seed(0)
    model = GroundingTransformer(TINY)
    with torch.no_grad():  # anchor head: prefer the first object strongly
        model.anchor_score.weight.zero_()
        model.anchor_score.bias.zero_()
    grounder = Grounder(model)
    scene = data.scenes[0]
    uniform = grounder.ground(scene, "the chair next to the table")
    assert uniform.anchors == []  # 1 / N each: none stands out
    everything = grounder.ground(scene, "the chair next to the table", anchor_threshold=0.0)
    assert len(everything.anchors) == 3
    assert abs(everything.anchors[0].score - 1 / len(scene.objects)) < 1e-5
    assert everything.to_json()["anchors"][0]["object_id"] == everything.anchors[0].object_id


def test_text_encoder_fine_tuning_is_saved_and_restored(tiny_data, tmp_path):
    _, data = tiny_data
    cfg = GroundingTrainConfig(steps=2, batch_size=4, checkpoint_every=2, eval_every=2, text_lr=1e-3,
                               model=GroundingConfig(dim=32, layers=1, heads=2, text_finetune=True))
    model = train_grounding(data, tmp_path, cfg, progress=False)
    from scene3d.models.text_encoder import minilm_text_encoder

    name = "model.encoder.layer.0.attention.self.query.weight"
    before = dict(minilm_text_encoder().named_parameters())[name]
    after = dict(model.text_encoder.named_parameters())[name]
    assert not torch.equal(before, after)  # the encoder was trained
    loaded = Grounder.from_checkpoint(tmp_path)
    torch.testing.assert_close(dict(loaded.model.text_encoder.named_parameters())[name], after)
    assert len(loaded.ground(data.scenes[0], "the chair").ranked) == 5


def test_scenes_of_any_size_train_and_ground(tmp_path):
    """A 140-object scene (real ScanNet rooms reach 132) trains and grounds its last objects."""
    from scene3d.structures import Box, SceneObject, Utterance

    rng = np.random.default_rng(0)
    objects = [SceneObject(object_id=i, label="chair" if i < 139 else "piano",
                           box=Box(center=rng.uniform(0, 8, 3), size=np.full(3, 0.5), yaw=0.0)) for i in range(140)]
    scene = Scene("big", objects=objects)
    data = GroundingDataset.build({"big": scene}, [Utterance("big", 139, "the piano", anchor_ids=(138,)),
                                                   Utterance("big", 130, "the chair")])
    cfg = GroundingTrainConfig(steps=2, batch_size=2, checkpoint_every=2, eval_every=2, model=TINY)
    train_grounding(data, tmp_path, cfg, progress=False)
    result = Grounder.from_checkpoint(tmp_path).ground(scene, "the piano", top_k=140)
    assert len(result.ranked) == 140 and result.asked_class == "piano"


def test_text_cache_on_disk_is_shared_and_tied_to_its_encoder(tmp_path):
    from scene3d.grounding import TextCache
    from scene3d.models.text_encoder import minilm_text_encoder

    encoder = minilm_text_encoder()
    first = TextCache(encoder, folder=tmp_path / "cache")
    first.add(["the chair", "a lamp on the desk"])
    assert first.save() == 2 and first.save() == 0
    second = TextCache(encoder, folder=tmp_path / "cache")   # another run or process
    assert set(second.pooled) == {"the chair", "a lamp on the desk"}
    torch.testing.assert_close(second.tokens["a lamp on the desk"], first.tokens["a lamp on the desk"])
    torch.testing.assert_close(second.pooled["the chair"], first.pooled["the chair"])
    with torch.no_grad():  # a different encoder does not read those features
        next(encoder.model.parameters()).add_(1.0)
    assert TextCache(encoder, folder=tmp_path / "cache").pooled == {}


def test_low_confidence_looks_for_the_class_the_query_names_first(tiny_data):
    """The trash-can query in a room with a door but no trash can is flagged; a synonym or
    spelling of a present class never is, whatever the learned class match says."""
    _, data = tiny_data
    torch.manual_seed(0)
    model = GroundingTransformer(TINY)
    scene = next(s for s in data.scenes if "door" in {o.label for o in s.objects}
                 and "trash can" not in {o.label for o in s.objects})
    grounder = Grounder(model, class_match_threshold=1.01, vocabulary=["trash can", "door"])  # cosine never enough
    flagged = grounder.ground(scene, "the trashcan near the door")
    assert flagged.low_confidence and flagged.asked_class == "trash can"
    label = scene.objects[0].label
    assert not grounder.ground(scene, f"the {label}s over there").low_confidence


def test_init_starts_from_another_runs_weights(tiny_data, tmp_path):
    """Pretrain, then fine-tune from it (also with a fine-tuned text encoder the first run lacked)."""
    _, data = tiny_data
    train_grounding(data, tmp_path / "pre", GroundingTrainConfig(steps=2, batch_size=4, checkpoint_every=2,
                                                                 eval_every=2, model=TINY), progress=False)
    pre = Grounder.from_checkpoint(tmp_path / "pre").model.state_dict()
    cfg = GroundingTrainConfig(steps=1, batch_size=4, lr=1e-12, warmup=1, checkpoint_every=1, eval_every=1,
                               init=str(tmp_path / "pre"), model=TINY)
    tuned = train_grounding(data, tmp_path / "fine", cfg, progress=False).state_dict()
    for k in pre:  # a vanishing learning rate: the fine-tuned run still holds the pretrained weights
        torch.testing.assert_close(tuned[k], pre[k], rtol=0, atol=1e-6)
    cfg.model = GroundingConfig(dim=32, layers=1, heads=2, text_finetune=True)
    with_text = train_grounding(data, tmp_path / "fine_text", cfg, progress=False)
    assert with_text.text_encoder is not None
    cfg.model = GroundingConfig(dim=48, layers=1, heads=2)
    with pytest.raises(ConfigError, match="do not fit"):
        train_grounding(data, tmp_path / "wrong", cfg, progress=False)


def _loss_row(run) -> dict[str, float]:
    import csv

    with open(run / "metrics.csv", newline="") as f:
        return {k: float(v) for k, v in list(csv.DictReader(f))[-1].items() if k.startswith("loss")}


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")])])
def test_mixed_precision_training_tracks_fp32(tiny_data, tmp_path, device):
    """The transformer under bf16 / fp16 autocast, the losses in fp32 (fp16 with a loss scaler):
    the losses of two steps stay within 2 % of an fp32 run on the CPU."""
    from scene3d.grounding import TextCache
    from scene3d.models.text_encoder import minilm_text_encoder

    _, data = tiny_data
    cache, runs = TextCache(minilm_text_encoder()), {}
    for name, dev, prec in (("ref", "cpu", "fp32"), ("bf16", device, "bf16"), ("fp16", device, "fp16")):
        cfg = GroundingTrainConfig(steps=2, batch_size=4, checkpoint_every=2, eval_every=2, model=TINY, device=dev,
                                   precision=prec)
        train_grounding(data, tmp_path / name, cfg, cache=cache, progress=False)
        runs[name] = _loss_row(tmp_path / name)
    for name in ("bf16", "fp16"):
        assert runs[name] != runs["ref"], name            # it did run in low precision
        for k, v in runs["ref"].items():
            assert runs[name][k] == pytest.approx(v, rel=2e-2, abs=1e-3), (name, k)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_and_grounds_on_cuda(tiny_data, tmp_path):
    scenes, data = tiny_data
    cfg = GroundingTrainConfig(steps=3, batch_size=8, checkpoint_every=3, eval_every=3, model=TINY, device="cuda")
    model = train_grounding(data, tmp_path, cfg, val=data, progress=False)
    assert next(model.parameters()).is_cuda
    scene = next(iter(scenes.values()))
    on_gpu = Grounder.from_checkpoint(tmp_path, device="cuda").ground(scene, "the chair next to the table")
    on_cpu = Grounder.from_checkpoint(tmp_path, device="cpu").ground(scene, "the chair next to the table")
    assert [r.object_id for r in on_gpu.ranked] == [r.object_id for r in on_cpu.ranked]
    assert on_gpu.ranked[0].score == pytest.approx(on_cpu.ranked[0].score, abs=1e-4)


def test_relation_model_trains_and_grounds(tiny_data, tmp_path):
    scenes, data = tiny_data
    cfg = GroundingTrainConfig(steps=2, batch_size=4, checkpoint_every=2, eval_every=2,
                               model=GroundingConfig(dim=32, layers=1, heads=2, relations=True))
    train_grounding(data, tmp_path, cfg, progress=False)
    grounder = Grounder.from_checkpoint(tmp_path)
    assert grounder.model.relation_in is not None
    scene = data.scenes[0]
    result = grounder.ground(scene, "the chair closest to the table", top_k=2)
    assert len(result.ranked) == 2 and result.ranked[0].score >= result.ranked[1].score
