"""hf_vision_teacher with tiny random CLIP / SigLIP / DINOv2 models saved in tmp folders."""

from __future__ import annotations

import pytest
import torch

from scene3d.errors import ConfigError
from scene3d.teachers import TeacherError, hf_vision_teacher, map_mean
from tests.conftest import make_frame


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "a", "photo", "of", "chair", "table", "lamp", "."]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", model_max_length=16)


def _save(kind: str, folder):
    from transformers import (
        CLIPConfig,
        CLIPModel,
        Dinov2Config,
        Dinov2Model,
        SiglipConfig,
        SiglipModel,
    )

    torch.manual_seed(0)
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    vision = {**layers, "image_size": 32, "patch_size": 8}
    text = {**layers, "vocab_size": 16, "max_position_embeddings": 16, "pad_token_id": 0, "bos_token_id": 2,
            "eos_token_id": 8}
    if kind == "clip":
        model = CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=24))
    elif kind == "siglip":
        model = SiglipModel(SiglipConfig(vision_config=vision, text_config=text))
    else:
        model = Dinov2Model(Dinov2Config(**vision))
    model.save_pretrained(folder)
    if kind != "dinov2":
        _tokenizer().save_pretrained(folder)
    return model


@pytest.mark.parametrize("kind,dim", [("clip", 24), ("siglip", 32), ("dinov2", 32)])
def test_tiny_towers_give_dense_maps(tmp_path, kind, dim):
    _save(kind, tmp_path)
    teacher = hf_vision_teacher(tmp_path, downscale=2)
    frame = make_frame(h=12, w=16)
    out = teacher(None, frame)
    assert out.features.shape == (6, 8, dim) and teacher.dim == dim
    assert out.valid.all()
    torch.testing.assert_close(out.features.norm(dim=-1), torch.ones(6, 8), rtol=0, atol=1e-5)
    # deterministic: the same view gives the same map
    torch.testing.assert_close(teacher(None, frame).features, out.features, rtol=0, atol=0)
    torch.testing.assert_close(teacher.mean_feature(None, frame), map_mean(out), rtol=0, atol=0)
    if kind == "dinov2":
        with pytest.raises(TeacherError, match="no text space"):
            teacher.embed_text(["chair"])
    else:
        text = teacher.embed_text(["chair", "table", "lamp"])
        assert text.shape == (3, dim)
        assert not torch.allclose(text[0], text[1])


def test_clip_patch_tokens_follow_the_pooled_path(tmp_path):
    """CLIP dense features = visual_projection(post_layernorm(token)), as for the pooled CLS token."""
    model = _save("clip", tmp_path).eval()
    teacher = hf_vision_teacher(tmp_path, downscale=1)
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        hidden = model.vision_model(pixel_values=pixels).last_hidden_state
        ref = model.visual_projection(model.vision_model.post_layernorm(hidden[:, 1:]))
        torch.testing.assert_close(teacher._patch_tokens(pixels), ref)
        # the CLS token through the same path is CLIP's own image embedding
        pooled = model.get_image_features(pixel_values=pixels)
        pooled = pooled if torch.is_tensor(pooled) else pooled.pooler_output
        cls = model.visual_projection(model.vision_model.post_layernorm(hidden[:, 0]))
        torch.testing.assert_close(cls, pooled)


def test_bad_paths_are_typed_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        hf_vision_teacher(tmp_path / "missing")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ConfigError):
        hf_vision_teacher(tmp_path)
    _save("dinov2", tmp_path / "d")
    with pytest.raises(TeacherError, match="divisible"):
        hf_vision_teacher(tmp_path / "d", downscale=5)(None, make_frame(h=12, w=16))
