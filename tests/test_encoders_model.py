"""Model identity: the real packaged model, verified by hash and loaded from its local path."""

import shutil

import pytest

from newsearch.indexer.encoders.model import (
    DEFAULT_MODEL_SHA256,
    default_model_path,
    resolve_model,
)
from newsearch.indexer.errors import ModelError


def test_default_model_is_the_packaged_minilm_with_the_pinned_hash(model):
    assert model.sha256 == DEFAULT_MODEL_SHA256
    assert model.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert model.dim == 384 and model.max_seq_length == 256
    assert model.path.startswith(str(default_model_path().resolve()))


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
