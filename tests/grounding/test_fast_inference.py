"""The Grounder's faster query path: traced model (same answers) and int8 sentence encoding."""

import pytest
import torch

from scene3d.grounding import Grounder, TextCache
from scene3d.grounding.evaluation import rotation_averaged
from scene3d.models.grounding import GroundingConfig, GroundingEnsemble, GroundingTransformer
from scene3d.models.text_encoder import minilm_text_encoder
from scene3d.synth import SynthConfig, generate_scene

TINY = GroundingConfig(dim=32, layers=1, heads=2)


@pytest.fixture(scope="module")
def scene():
    return generate_scene("fast", 7, None, SynthConfig(num_points=300, min_object_points=1, num_frames=0))


def test_traced_grounder_answers_as_the_plain_model(scene):
    torch.manual_seed(0)
    model = GroundingEnsemble([GroundingTransformer(TINY), GroundingTransformer(TINY)])
    grounder = Grounder(model, rotations=2, device="cpu")
    for query, viewpoint in (("the chair next to the table", None), ("the lamp on the left", (0, 0, 1.5, 1, 0, 0))):
        result = grounder.ground(scene, query, viewpoint=viewpoint, top_k=len(scene.objects))
        with torch.no_grad():
            log_probs, _, _ = rotation_averaged(model, grounder.cache, [scene], [query], [viewpoint], 2)
        plain = dict(zip([o.object_id for o in scene.objects], log_probs[0].softmax(-1).tolist()))
        assert len(result.ranked) == len(scene.objects)
        for ranked in result.ranked:
            assert ranked.score == pytest.approx(plain[ranked.object_id], abs=1e-5)
    assert len(grounder.net._traces) == 1


def test_int8_grounder_encodes_sentences_in_int8_and_class_names_in_float32(scene):
    torch.manual_seed(0)
    grounder = Grounder(GroundingTransformer(TINY), device="cpu", int8=True)
    cache, encoder = grounder.cache, minilm_text_encoder()
    assert cache.encoder is encoder and cache.sentence_encoder is not encoder
    result = grounder.ground(scene, "the chair next to the table")
    assert result.ranked and abs(sum(r.score for r in grounder.ground(scene, "the chair", top_k=99).ranked) - 1) < 1e-5
    with torch.inference_mode():
        label = scene.objects[0].label
        torch.testing.assert_close(cache.pooled[label], encoder([label]).pooled[0])           # float32
        sentence = encoder(["the chair next to the table"]).pooled[0]
    int8_pooled = cache.pooled["the chair next to the table"]
    assert not torch.equal(int8_pooled, sentence) and float(int8_pooled @ sentence) > 0.9


def test_text_cache_keeps_one_encoder_on_disk(tmp_path):
    encoder = minilm_text_encoder()
    with pytest.raises(ValueError, match="one encoder"):
        TextCache(encoder, folder=tmp_path, sentence_encoder=encoder.int8())
