"""The ONNX encoder.

Queries: same vectors as sentence-transformers, no torch in a query process, and a missing or
damaged export only slows a query down.

Documents (the default CPU document encoder: the fp32 ONNX export, one text at a time): it must
give sentence-transformers' vectors (same embedding space, shared cache), the same vector for a
text whatever else is encoded with it, and a build that needs no torch once the export exists;
when the model cannot be exported, a build still works, on torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import DEMO, REPO, cli_with_imports

from newsearch.indexer import BuildOptions, Embedder, IndexLayout, build_index
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.encoders import document_encoder
from newsearch.indexer.encoders.device import encodes_on_cpu, nvidia_gpu_visible
from newsearch.indexer.encoders.onnx import (
    INFO_FILE,
    MODEL_FILE,
    OPTIMIZED_FILE,
    WEIGHTS_FILE,
    OnnxEncoder,
    export_dir,
    export_onnx,
    load_info,
    open_encoder,
)
from newsearch.indexer.layout import VECTORS_FILE
from newsearch.search import Searcher

VARIED = [
    "security guarantees",
    "a",
    "",
    "   ",
    "?!",
    "Ünïcödé naïve café — Zürich, 北京市, Москва, emoji 🎉🚀",
    "“Curly quotes” and ‘apostrophes’ – en dash … ellipsis",
    # well past 256 tokens: both must truncate at the same place
    "The chancellor said interest rates would stay low for the rest of the year. " * 40,
    "x" * 5000,
    "Tokyo stocks fell 2.3% on Tuesday after the yen rose to ¥104.50 against the dollar.",
]


@pytest.fixture(scope="module")
def export(model, embedder) -> Path:
    return export_onnx(model, embedder.model)


@pytest.fixture(scope="module")
def onnx(export, model) -> OnnxEncoder:
    return OnnxEncoder.load(export, model)


def test_export_is_keyed_by_the_weights_hash(export, model, onnx_cache):
    assert export == onnx_cache / "onnx" / model.sha256 == export_dir(model.sha256)
    info = load_info(export, model.sha256)
    assert info is not None and info.model_sha256 == model.sha256 and info.dim == 384
    assert info.max_seq_length == 256
    assert load_info(export, "0" * 64) is None  # never used for other weights
    before = (export / WEIGHTS_FILE).stat().st_mtime_ns
    assert export_onnx(model) == export  # a good export is reused, not redone
    assert (export / WEIGHTS_FILE).stat().st_mtime_ns == before


def test_same_vectors_as_sentence_transformers(onnx, embedder):
    reference = embedder.encode(VARIED)
    batch = onnx.encode_batch(VARIED)  # padded batch
    singles = np.stack([onnx.encode_query(t) for t in VARIED])  # what a query does
    assert batch.shape == singles.shape == (len(VARIED), 384)
    for got in (batch, singles):
        cosines = (got * reference).sum(axis=1)
        assert cosines.min() >= 0.999, dict(zip(VARIED, cosines.round(5), strict=True))
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    # truncation happens: a text twice as long past 256 tokens encodes the same
    long = VARIED[7]
    assert float(onnx.encode_query(long) @ onnx.encode_query(long * 2)) > 0.9999


def test_searcher_uses_onnx_and_finds_the_same(seeds_index, embedder, export):
    with Searcher(seeds_index) as fast, Searcher(seeds_index, embedder=embedder) as ref:
        got = fast.search("security guarantees", k=2, mode="dense")
        assert isinstance(fast._embedder, OnnxEncoder)
        want = ref.search("security guarantees", k=2, mode="dense")
    assert [h.article_id for h in got.hits] == [h.article_id for h in want.hits]
    assert got.hits[0].score == pytest.approx(want.hits[0].score, abs=1e-3)


def _private_cache(tmp_path, monkeypatch, export: Path, model) -> Path:
    root = tmp_path / "cache"
    copy = root / "onnx" / model.sha256
    shutil.copytree(export, copy)
    monkeypatch.setenv("NEWSEARCH_CACHE_DIR", str(root))
    return copy


def _damage_bytes(path: Path) -> None:
    """Same size, different weights: only the probe check can tell."""
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\x7f" * 4096)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / WEIGHTS_FILE).unlink(),
        lambda d: (d / MODEL_FILE).write_bytes(b"not an onnx graph"),
        lambda d: os.truncate(d / WEIGHTS_FILE, 1000),
        lambda d: _damage_bytes(d / WEIGHTS_FILE),
        lambda d: (d / INFO_FILE).write_text("{", encoding="utf-8"),
    ],
    ids=["weights-missing", "graph-garbage", "weights-truncated", "weights-flipped", "bad-json"],
)
def test_damaged_export_warns_and_falls_back(
    damage, tmp_path, monkeypatch, caplog, export, model, seeds_index, embedder
):
    copy = _private_cache(tmp_path, monkeypatch, export, model)
    damage(copy)
    with caplog.at_level(logging.WARNING, logger="newsearch"):
        assert open_encoder(model) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "damaged" in lines[0] and "\n" not in lines[0]

    caplog.clear()
    with Searcher(seeds_index) as s, caplog.at_level(logging.WARNING, logger="newsearch"):
        results = s.search("security guarantees", k=2, mode="dense")
        assert not isinstance(s._embedder, OnnxEncoder)  # sentence-transformers
    with Searcher(seeds_index, embedder=embedder) as ref:
        want = ref.search("security guarantees", k=2, mode="dense")
    assert [h.article_id for h in results.hits] == [h.article_id for h in want.hits]
    # the fallback re-exported a good encoder for the next query
    assert isinstance(open_encoder(model), OnnxEncoder)


def test_missing_export_warns_once_and_is_recreated(tmp_path, monkeypatch, caplog, model):
    monkeypatch.setenv("NEWSEARCH_CACHE_DIR", str(tmp_path / "empty"))
    with caplog.at_level(logging.WARNING, logger="newsearch"):
        assert open_encoder(model) is None
    assert len(caplog.records) == 1 and "missing" in caplog.records[0].getMessage()
    parent = tmp_path / "empty" / "onnx"
    stale, live = parent / f".{model.sha256[:12]}-stale", parent / f".{model.sha256[:12]}-live"
    for d in (stale, live):
        d.mkdir(parents=True)
    os.utime(stale, (0, 0))  # left by a process killed long ago
    assert export_onnx(model) == parent / model.sha256
    assert isinstance(open_encoder(model), OnnxEncoder)
    assert not stale.exists() and live.exists()
    assert {p.name for p in parent.iterdir()} == {model.sha256, live.name}


def test_an_index_may_ship_its_own_export(tmp_path, monkeypatch, export, model, seeds_index):
    index_dir = tmp_path / "ix"
    shutil.copytree(seeds_index, index_dir)
    shutil.copytree(export, index_dir / "onnx" / model.sha256)
    monkeypatch.setenv("NEWSEARCH_CACHE_DIR", str(tmp_path / "nothing-here"))
    encoder = open_encoder(model, index_dir)
    assert isinstance(encoder, OnnxEncoder) and encoder.folder.parent.parent == index_dir


def test_query_process_imports_no_torch(seeds_index, export):
    """A shell query must not pay for torch, transformers or sentence-transformers."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "newsearch.cli.main",
            "query",
            "security guarantees",
            "-k",
            "2",
            "--json",
            "--index-dir",
            str(seeds_index),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["hits"], proc.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "onnxruntime" in imported and "faiss" in imported
    assert not imported & {"torch", "transformers", "sentence_transformers"}
    other = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert not other, other


def test_optimized_graph_is_saved_once_and_gives_the_same_vectors(
    tmp_path, monkeypatch, export, model
):
    copy = _private_cache(tmp_path, monkeypatch, export, model)
    (copy / OPTIMIZED_FILE).unlink(missing_ok=True)
    first = open_encoder(model)
    assert isinstance(first, OnnxEncoder) and not first.optimized
    assert (copy / OPTIMIZED_FILE).is_file()  # saved by the first session
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]  # no partial files left
    second = open_encoder(model)
    assert isinstance(second, OnnxEncoder) and second.optimized
    a, b = first.encode_batch(VARIED), second.encode_batch(VARIED)
    assert (a * b).sum(axis=1).min() >= 0.9999


def test_damaged_optimized_graph_is_rebuilt_from_the_export(tmp_path, monkeypatch, export, model):
    copy = _private_cache(tmp_path, monkeypatch, export, model)
    assert isinstance(open_encoder(model), OnnxEncoder)
    (copy / OPTIMIZED_FILE).write_bytes(b"not a graph")
    encoder = open_encoder(model)
    assert isinstance(encoder, OnnxEncoder) and not encoder.optimized
    assert (copy / OPTIMIZED_FILE).stat().st_size > 1000  # saved again, whole
    assert open_encoder(model).optimized


# -- documents -------------------------------------------------------------------------------

HEAVY = {"torch", "transformers", "sentence_transformers"}


@pytest.fixture(scope="module")
def onnx_docs(model, embedder) -> OnnxEncoder:
    export_onnx(model, embedder.model)
    return OnnxEncoder(model)


@pytest.fixture(scope="module")
def demo_texts() -> list[str]:
    read = read_articles([DEMO])
    return [f"{a.title}\n{p.full_text}" for a in read.articles for p in a.paragraphs][:60]


def test_documents_get_the_vectors_of_sentence_transformers(onnx_docs, embedder, demo_texts):
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
    encoder = OnnxEncoder(model, batch_size=8, workers=2)
    heard: list[int] = []
    vecs = encoder.encode(demo_texts[:21], progress=heard.append)
    assert heard == [8, 8, 5] and encoder.encoded_count == 21 and vecs.shape == (21, 384)
    assert encoder.encode([]).shape == (0, 384) and encoder.encoded_count == 21


def test_builds_encode_on_the_cpu_with_onnx(model):
    assert encodes_on_cpu("cpu") and encodes_on_cpu("CPU ")
    if not nvidia_gpu_visible():  # decided without torch: this machine cannot use CUDA
        assert encodes_on_cpu("auto") and encodes_on_cpu("")
        assert isinstance(document_encoder(model), OnnxEncoder)
    assert isinstance(document_encoder(model, "cpu"), OnnxEncoder)
    with pytest.raises(Exception, match="onnxruntime"):
        OnnxEncoder(model, device="cuda")


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
    encoder = OnnxEncoder(model)
    with caplog.at_level(logging.WARNING, logger="newsearch"):
        report = build_index([corpus], tmp_path / "ix", BuildOptions(), embedder=encoder)
    said = [r.getMessage() for r in caplog.records]
    warnings = [m for m in said if "could not export the model" in m]
    assert len(warnings) == 1 and "sentence-transformers" in warnings[0]  # once, not per call
    assert encoder.encoded_count >= report.embedded > 0  # story alignment encodes some more
    text = "Rail workers walk out at the port"
    assert float(encoder.encode([text])[0] @ embedder.encode([text])[0]) >= 0.99999
    assert isinstance(encoder._fallback, Embedder)
