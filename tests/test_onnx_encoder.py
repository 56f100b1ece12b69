"""The ONNX query encoder: same vectors as sentence-transformers, no torch in a query process,
and a missing or damaged export only slows a query down."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from newsearch.indexer.onnx_encoder import (
    INFO_FILE,
    MODEL_FILE,
    OPTIMIZED_FILE,
    WEIGHTS_FILE,
    OnnxQueryEncoder,
    export_dir,
    export_onnx,
    load_info,
    open_encoder,
)
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
def onnx(export, model) -> OnnxQueryEncoder:
    return OnnxQueryEncoder(export, model.max_seq_length)


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
    batch = onnx.encode(VARIED)  # padded batch
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
        assert isinstance(fast._embedder, OnnxQueryEncoder)
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
        assert not isinstance(s._embedder, OnnxQueryEncoder)  # sentence-transformers
    with Searcher(seeds_index, embedder=embedder) as ref:
        want = ref.search("security guarantees", k=2, mode="dense")
    assert [h.article_id for h in results.hits] == [h.article_id for h in want.hits]
    # the fallback re-exported a good encoder for the next query
    assert isinstance(open_encoder(model), OnnxQueryEncoder)


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
    assert isinstance(open_encoder(model), OnnxQueryEncoder)
    assert not stale.exists() and live.exists()
    assert {p.name for p in parent.iterdir()} == {model.sha256, live.name}


def test_an_index_may_ship_its_own_export(tmp_path, monkeypatch, export, model, seeds_index):
    index_dir = tmp_path / "ix"
    shutil.copytree(seeds_index, index_dir)
    shutil.copytree(export, index_dir / "onnx" / model.sha256)
    monkeypatch.setenv("NEWSEARCH_CACHE_DIR", str(tmp_path / "nothing-here"))
    encoder = open_encoder(model, index_dir)
    assert isinstance(encoder, OnnxQueryEncoder) and encoder.folder.parent.parent == index_dir


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
    assert isinstance(first, OnnxQueryEncoder) and not first.optimized
    assert (copy / OPTIMIZED_FILE).is_file()  # saved by the first session
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]  # no partial files left
    second = open_encoder(model)
    assert isinstance(second, OnnxQueryEncoder) and second.optimized
    a, b = first.encode(VARIED), second.encode(VARIED)
    assert (a * b).sum(axis=1).min() >= 0.9999


def test_damaged_optimized_graph_is_rebuilt_from_the_export(tmp_path, monkeypatch, export, model):
    copy = _private_cache(tmp_path, monkeypatch, export, model)
    assert isinstance(open_encoder(model), OnnxQueryEncoder)
    (copy / OPTIMIZED_FILE).write_bytes(b"not a graph")
    encoder = open_encoder(model)
    assert isinstance(encoder, OnnxQueryEncoder) and not encoder.optimized
    assert (copy / OPTIMIZED_FILE).stat().st_size > 1000  # saved again, whole
    assert open_encoder(model).optimized
