"""Text embeddings kept across processes: where, keyed by what, read back exactly, safe to lose."""

import os
import stat

import torch

from scene3d.io.text_store import TextEmbeddingStore, recall
from scene3d.models.text_encoder import default_text_model_path, minilm_text_encoder
from scene3d.runtime import cache_root


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCENE3D_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.setenv("SCENE3D_CACHE_DIR", "off")
    assert cache_root() is None and TextEmbeddingStore.for_model(tmp_path) is None
    monkeypatch.delenv("SCENE3D_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "scene3d"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "scene3d"


def test_store_round_trip_and_bad_files(tmp_path):
    store = TextEmbeddingStore(tmp_path / "enc")
    texts, pooled = ["chair", "table", "lamp"], torch.randn(3, 8)
    assert store.get(texts) is None
    old = os.umask(0o027)
    try:
        store.put(texts, pooled)
    finally:
        os.umask(old)
    torch.testing.assert_close(store.get(texts), pooled, rtol=0, atol=0)
    assert store.get(["chair", "lamp", "table"]) is None        # another list (order counts)
    (file,) = (tmp_path / "enc").glob("*.safetensors")
    assert stat.S_IMODE(file.stat().st_mode) == 0o640 and not list((tmp_path / "enc").glob(".*.tmp"))
    file.write_bytes(b"\x00garbage")                             # unreadable: absent, rewritten on put
    assert store.get(texts) is None
    store.put(texts, pooled)
    torch.testing.assert_close(store.get(texts), pooled, rtol=0, atol=0)


def test_the_model_key_changes_with_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENE3D_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights v1")
    first = TextEmbeddingStore.for_model(model).folder
    assert TextEmbeddingStore.for_model(model).folder == first
    assert TextEmbeddingStore.for_model(model, max_length=32).folder != first
    (model / "model.safetensors").write_bytes(b"weights v2, retrained")
    assert TextEmbeddingStore.for_model(model).folder != first
    assert TextEmbeddingStore.for_encoder(minilm_text_encoder()).folder == TextEmbeddingStore.for_model(
        default_text_model_path()).folder


def test_recall_reads_what_an_earlier_process_encoded(tmp_path):
    encoder = minilm_text_encoder()
    store = TextEmbeddingStore(tmp_path / "enc")
    calls = []

    def encode(texts):
        calls.append(list(texts))
        with torch.no_grad():
            return encoder(texts).pooled

    first: dict = {}
    recall(first, ["sofa", "tv", "sofa"], encode, store)
    assert calls == [["sofa", "tv"]]
    later: dict = {}                                   # a new process: empty memory, the same store
    recall(later, ["sofa", "tv"], encode, store)
    assert calls == [["sofa", "tv"]]                   # nothing encoded
    torch.testing.assert_close(torch.stack([later["sofa"], later["tv"]]), encode(["sofa", "tv"]), atol=1e-5, rtol=0)
    recall(later, ["sofa", "tv"], encode, None)        # no store: only what memory lacks is encoded
    assert len(calls) == 2


class Recording:
    """A text encoder that notes the strings it encodes."""

    def __init__(self, encoder):
        self.encoder, self.dim, self.seen = encoder, encoder.dim, []

    def __call__(self, texts):
        self.seen += texts
        return self.encoder(texts)


def test_grounder_keeps_class_names_and_answers_the_same(tmp_path, monkeypatch, tiny_scene):
    from scene3d.grounding import Grounder

    monkeypatch.setenv("SCENE3D_CACHE_DIR", str(tmp_path / "cache"))
    query = "the chair next to the table"
    fresh = Grounder.from_checkpoint().ground(tiny_scene, query)
    assert len(list((tmp_path / "cache" / "text").rglob("*.safetensors"))) == 1   # the scene's class names
    again = Grounder.from_checkpoint()   # as in a new process: nothing in memory
    again.cache.encoder = Recording(again.cache.encoder)
    again.cache.sentence_encoder = Recording(again.cache.sentence_encoder)   # int8: the packaged model's choice
    cached = again.ground(tiny_scene, query)
    assert again.cache.sentence_encoder.seen == [query] and again.cache.encoder.seen == []   # class names are read
    assert [(r.object_id, round(r.score, 5)) for r in cached.ranked] == [(r.object_id, round(r.score, 5))
                                                                          for r in fresh.ranked]
