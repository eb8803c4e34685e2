import numpy as np
import pytest

from scene3d.errors import ConfigError
from scene3d.graph import build_scene_graph
from scene3d.language import Seq2SeqParaphraser, generate_language
from scene3d.language.paraphrase import keeps_meaning
from scene3d.language.program import ObjectRef, RelationClause
from scene3d.synth import SynthConfig, generate_scene


def _tiny_t5(folder):
    """A random 2-layer T5 with a word-level tokenizer, saved like a real local model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    words = ["<pad>", "</s>", "<unk>", "paraphrase:", "the", "cup", "on", "table", "chair", "near", "find", "a"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    cfg = T5Config(vocab_size=len(words), d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(cfg).save_pretrained(folder)


def test_seq2seq_paraphraser_loads_locally_and_is_guarded(tmp_path):
    _tiny_t5(tmp_path / "t5")
    para = Seq2SeqParaphraser(tmp_path / "t5", max_new_tokens=8)
    out = para(["find the cup on the table", "the chair"])
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    scene = generate_scene("s", 1, "kitchen", SynthConfig(num_points=1500, num_frames=0))
    utts = generate_language(build_scene_graph(scene), seed=0, paraphraser=para)
    # a random model drifts: its outputs are kept only when they still name the classes
    for u in utts:
        if u.paraphrased:
            assert u.target_label in u.text or any(w in u.text for w in ("cup", "table", "chair"))
    assert any(u.kind == "referral" and not u.paraphrased for u in utts)


def test_missing_model_folder(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Seq2SeqParaphraser(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load"):
        Seq2SeqParaphraser(tmp_path / "empty")


def test_keeps_meaning_guard():
    ref = ObjectRef("cup", (), RelationClause("on", (ObjectRef("table"),)))
    assert keeps_meaning("the mug lying on the table", ref)
    assert not keeps_meaning("the cup near the window", ref)
    assert not keeps_meaning("a table", ref)


def test_rule_paraphrase_keeps_the_program():
    from scene3d.language.paraphrase import rule_paraphrase

    scene = generate_scene("s", 2, "office", SynthConfig(num_points=1500, num_frames=0))
    g = build_scene_graph(scene)
    rng = np.random.default_rng(0)
    ref = ObjectRef("desk", (("superlative", "largest"),))
    texts = {rule_paraphrase(ref, g, rng) for _ in range(10)}
    assert all("largest" in t for t in texts) and len(texts) > 1
