"""Model identity: the real packaged model, verified by hash and loaded from its local path;
which model built an index, and the one check that an encoder is in the index's space."""

import shutil
from dataclasses import replace

import pytest

from newsearch.indexer.encoders.model import (
    DEFAULT_MODEL_SHA256,
    built_model,
    check_same_model,
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


def test_the_model_that_built_an_index_is_found_again_by_its_weights(model, tmp_path):
    moved = replace(model, path=str(tmp_path / "gone"), precision="int8")
    found = built_model(moved)  # the recorded folder is gone: the packaged default, same hash
    assert (found.sha256, found.path, found.precision) == (model.sha256, model.path, "int8")
    assert built_model(moved, updating=True).sha256 == model.sha256
    assert built_model(moved, default_model_path()).path == model.path
    unknown = replace(moved, sha256="0" * 64)
    with pytest.raises(ModelError, match=r"is gone .*--model"):
        built_model(unknown, updating=True)
    with pytest.raises(ModelError, match="built with model"):
        built_model(unknown)  # a query tries the default, which is not the recorded weights


def test_one_check_says_what_differs(model):
    check_same_model(model, model)
    with pytest.raises(ModelError, match="holds fp32 vectors but the encoder given is int8"):
        check_same_model(model, replace(model, precision="int8"))
    other = replace(model, sha256="0" * 64, name="other")
    with pytest.raises(ModelError, match="query with --model"):
        check_same_model(model, other)
    with pytest.raises(ModelError, match=r"but other .* was given: run `newsearch index PATH"):
        check_same_model(model, other, updating=True)
    # an update compares weights only: it words a precision change with the flag asked for
    check_same_model(model, replace(model, precision="int8"), updating=True)
