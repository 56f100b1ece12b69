"""The default CPU document encoder: the fp32 ONNX export, one text at a time.

It must give sentence-transformers' vectors (same embedding space, shared cache), the same
vector for a text whatever else is encoded with it, and a build that needs no torch once the
export exists; when the model cannot be exported, a build still works, on torch."""

from __future__ import annotations

import json
import logging
import shutil

import faiss
import numpy as np
import pytest
from conftest import DEMO, cli_with_imports
from test_onnx_encoder import VARIED

from newsearch.indexer import BuildOptions, Embedder, IndexLayout, build_index
from newsearch.indexer.builder import document_encoder
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.device import encodes_on_cpu, nvidia_gpu_visible
from newsearch.indexer.layout import VECTORS_FILE
from newsearch.indexer.onnx_documents import OnnxDocumentEncoder
from newsearch.indexer.onnx_encoder import export_onnx

HEAVY = {"torch", "transformers", "sentence_transformers"}


@pytest.fixture(scope="module")
def onnx_docs(model, embedder) -> OnnxDocumentEncoder:
    export_onnx(model, embedder.model)
    return OnnxDocumentEncoder(model)


@pytest.fixture(scope="module")
def demo_texts() -> list[str]:
    read = read_articles([DEMO])
    return [f"{a.title}\n{p.full_text}" for a in read.articles for p in a.paragraphs][:60]


def test_same_vectors_as_sentence_transformers(onnx_docs, embedder, demo_texts):
    texts = VARIED + demo_texts
    got = onnx_docs.encode(texts)
    want = embedder.encode(texts)
    assert got.shape == want.shape == (len(texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((got * want).sum(axis=1).min()) >= 0.9999


def test_a_text_gets_one_vector_whatever_it_is_encoded_with(onnx_docs, demo_texts):
    together = onnx_docs.encode(demo_texts)
    alone = np.stack([onnx_docs.encode([t])[0] for t in demo_texts[::7]])
    assert np.allclose(together[::7], alone, atol=1e-6)
    shuffled = demo_texts[::-1]
    assert np.allclose(onnx_docs.encode(shuffled)[::-1], together, atol=1e-6)
    assert np.allclose(onnx_docs.encode_query(demo_texts[3]), together[3], atol=1e-6)


def test_progress_and_count(model, onnx_docs, demo_texts):
    encoder = OnnxDocumentEncoder(model, batch_size=8, workers=2)
    heard: list[int] = []
    vecs = encoder.encode(demo_texts[:21], progress=heard.append)
    assert heard == [8, 8, 5] and encoder.encoded_count == 21 and vecs.shape == (21, 384)
    assert encoder.encode([]).shape == (0, 384) and encoder.encoded_count == 21


def test_builds_encode_on_the_cpu_with_onnx(model):
    assert encodes_on_cpu("cpu") and encodes_on_cpu("CPU ")
    if not nvidia_gpu_visible():  # decided without torch: this machine cannot use CUDA
        assert encodes_on_cpu("auto") and encodes_on_cpu("")
        assert isinstance(document_encoder(model, BuildOptions(), False), OnnxDocumentEncoder)
    assert isinstance(
        document_encoder(model, BuildOptions(device="cpu"), False), OnnxDocumentEncoder
    )
    with pytest.raises(Exception, match="onnxruntime"):
        OnnxDocumentEncoder(model, device="cuda")


def test_cli_build_imports_no_torch_and_matches_the_torch_index(onnx_docs, demo_index, tmp_path):
    """``newsearch index`` in a new process (the export exists): no torch, and the vectors
    are those of the demo index built with sentence-transformers, id for id."""
    index_dir = tmp_path / "ix"
    proc, imported = cli_with_imports("index", DEMO, "-i", index_dir, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["articles"] == 32 and report["embedded"] > 0
    assert "onnxruntime" in imported and not imported & HEAVY

    def vectors(root) -> dict[int, np.ndarray]:
        index = faiss.read_index(str(IndexLayout(root).current() / VECTORS_FILE))
        ids = faiss.vector_to_array(index.id_map)
        return dict(zip(ids.tolist(), index.index.reconstruct_n(0, index.ntotal), strict=True))

    ours, theirs = vectors(index_dir), vectors(demo_index)
    assert set(ours) == set(theirs) and len(ours) == report["vectors"]
    assert min(float(ours[i] @ theirs[i]) for i in ours) >= 0.9999


def test_a_model_that_cannot_be_exported_falls_back_to_torch(
    model, embedder, monkeypatch, tmp_path, caplog
):
    """The export cannot be written (the cache root is a file): the build warns once and
    encodes with sentence-transformers instead of failing."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    monkeypatch.setenv("NEWSEARCH_CACHE_DIR", str(blocked))
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO, corpus)
    encoder = OnnxDocumentEncoder(model)
    with caplog.at_level(logging.WARNING, logger="newsearch"):
        report = build_index([corpus], tmp_path / "ix", BuildOptions(), embedder=encoder)
    said = [r.getMessage() for r in caplog.records]
    warnings = [m for m in said if "could not export the model" in m]
    assert len(warnings) == 1 and "sentence-transformers" in warnings[0]  # once, not per call
    assert encoder.encoded_count >= report.embedded > 0  # story alignment encodes some more
    text = "Rail workers walk out at the port"
    assert float(encoder.encode([text])[0] @ embedder.encode([text])[0]) >= 0.99999
    assert isinstance(encoder._fallback, Embedder)
