"""The real packaged model: verified by hash, loaded from its local path, windows for long text."""

import shutil

import numpy as np
import pytest

from newsearch.indexer.embedder import (
    DEFAULT_MODEL_SHA256,
    WindowSplitter,
    default_model_path,
    resolve_model,
)
from newsearch.indexer.errors import ModelError


def test_default_model_is_the_packaged_minilm_with_the_pinned_hash(model):
    assert model.sha256 == DEFAULT_MODEL_SHA256
    assert model.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert model.dim == 384 and model.max_seq_length == 256
    assert model.path.startswith(str(default_model_path().resolve()))


def test_embeddings_are_unit_length_and_semantic(embedder):
    vecs = embedder.encode(
        ["The central bank raised interest rates.", "Borrowing costs went up.", "A cat sat."]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2


def test_encode_keeps_input_order_despite_length_sorting(embedder):
    texts = ["short", "a much longer text about elections and voters " * 5, "medium length text"]
    together = embedder.encode(texts)
    for i, t in enumerate(texts):
        assert np.allclose(together[i], embedder.encode([t])[0], atol=1e-5)


def test_long_text_is_split_into_overlapping_windows(model):
    splitter = WindowSplitter(model, window=50, overlap=10)
    words = [f"word{i}" for i in range(400)]
    text = " ".join(words)
    [windows] = splitter.split_many([text])
    assert len(windows) > 1
    assert windows[0].startswith("word0 ") and windows[-1].endswith("word399")
    assert all(w in text for w in windows)
    assert splitter.split_many(["short text"]) == [["short text"]]


def test_missing_and_non_model_folders_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        resolve_model(tmp_path / "nope")
    with pytest.raises(ModelError, match="not a sentence-transformers model"):
        resolve_model(tmp_path)


def test_a_modified_copy_has_another_identity(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(default_model_path(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    info = resolve_model(copy)
    assert info.sha256 != DEFAULT_MODEL_SHA256
    assert info.name == "model"
