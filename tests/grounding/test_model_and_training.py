import numpy as np
import pytest
import torch

from scene3d.errors import ConfigError
from scene3d.graph import build_scene_graph
from scene3d.grounding import Grounder, GroundingDataset
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.language import LanguageConfig, generate_language
from scene3d.models.grounding import GroundingConfig, GroundingTransformer
from scene3d.structures import Scene
from scene3d.synth import SynthConfig, generate_scene

TINY = GroundingConfig(dim=32, layers=1, heads=2)


def test_model_masks_padding_and_is_order_equivariant():
    torch.manual_seed(0)
    model = GroundingTransformer(TINY).eval()
    g, le = torch.randn(1, 6, 9), torch.randn(1, 6, 384)
    mask = torch.ones(1, 6, dtype=torch.bool)
    mask[0, 5] = False
    text, tmask, pooled = torch.randn(1, 4, 384), torch.ones(1, 4, dtype=torch.bool), torch.randn(1, 384)
    out = model(g, le, mask, text, tmask, pooled)
    assert out.logits.shape == (1, 6) and torch.isinf(out.logits[0, 5]) and torch.isfinite(out.logits[0, :5]).all()
    perm = torch.tensor([3, 0, 4, 1, 2, 5])
    out2 = model(g[:, perm], le[:, perm], mask[:, perm], text, tmask, pooled)
    torch.testing.assert_close(out2.logits, out.logits[:, perm])
    assert out.object_embed.shape == (1, 6, 384) and out.scene_embed.shape == (1, 384)


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
    grounder = Grounder.load(tmp_path)
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
        Grounder.load(tmp_path)
    (tmp_path / "config.json").write_text('{"model": {"dim": 32, "layers": 1, "heads": 2}}')
    with pytest.raises(ConfigError, match="no checkpoint"):
        Grounder.load(tmp_path)


def test_dataset_reports_missing_targets(tiny_data):
    scenes, _ = tiny_data
    from scene3d.structures import Utterance

    ds = GroundingDataset.build(scenes, [Utterance("g0", 999, "the thing"), Utterance("nope", 1, "x")])
    assert not ds.examples and [r.split()[0] for _, r in ds.skipped] == ["target", "scene"]
    assert np.all([len(s.objects) > 0 for s in ds.scenes])
