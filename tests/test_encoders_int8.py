"""The int8 option: close to fp32 vectors, its own embedding space (meta, cache, queries),
never mixed with fp32 in one index, and an int8 build that needs no torch once exported."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, cli_with_imports, write
from test_encoders_onnx import VARIED
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import BuildOptions, IndexLayout, build_index
from newsearch.indexer.cache import EmbeddingCache, model_key, text_key
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.encoders.int8 import (
    INT8,
    INT8_MODEL_FILE,
    _quantize,
    export_int8,
    load_int8_info,
)
from newsearch.indexer.encoders.onnx import (
    MODEL_FILE,
    OnnxEncoder,
    _sha256,
    export_dir,
    open_encoder,
)
from newsearch.indexer.errors import IndexFormatError, ModelError
from newsearch.indexer.layout import META
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

runner = CliRunner()
HEAVY = {"torch", "transformers", "sentence_transformers"}
#: Demo queries and the article each must find first, in dense and in hybrid mode.
EXPECTED = {
    "security guarantees before a ceasefire": "valdoria-seeks-security-guarantees",
    "rail workers walk out at the port": "harbour-rail-strike",
    "central bank keeps interest rates unchanged": "central-bank-holds-interest-rates",
    "vaccine trial against dengue": "dengue-vaccine-trial-results",
}


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def int8_export(model, embedder) -> Path:
    return export_int8(model, st_model=embedder.model)


@pytest.fixture(scope="module")
def int8_encoder(model, int8_export) -> OnnxEncoder:
    return OnnxEncoder(model, INT8)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, demo_index, int8_export):
    """A copy of the fp32 demo index (with its fp32 embedding cache) rebuilt with ``--int8``
    by the CLI in a new process; a Searcher opened on the fp32 generation before that."""
    index_dir = tmp_path_factory.mktemp("int8") / "ix"
    shutil.copytree(demo_index, index_dir)
    before = Searcher(index_dir)
    fp32_hits = before.search("security guarantees", k=1, mode="dense").hits
    proc, imported = cli_with_imports(
        "index", DEMO, "-i", index_dir, "--int8", "--rebuild", "--json"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield index_dir, json.loads(proc.stdout), imported, before, fp32_hits
    before.close()


# -- the encoder ----------------------------------------------------------------------------


def test_export_is_deterministic_checked_and_reused(int8_export, model, tmp_path):
    assert int8_export == export_dir(model.sha256)
    info = load_int8_info(int8_export, model.sha256)
    assert info is not None and info.dim == 384 and info.min_cosine_to_fp32 >= 0.98
    assert info.source_graph_sha256 == _sha256(int8_export / MODEL_FILE)
    assert load_int8_info(int8_export, "0" * 64) is None  # never used for other weights
    before = (int8_export / INT8_MODEL_FILE).stat().st_mtime_ns
    assert export_int8(model) == int8_export  # a good one is reused, not made again
    assert (int8_export / INT8_MODEL_FILE).stat().st_mtime_ns == before
    again = tmp_path / "again.onnx"
    _quantize(int8_export / MODEL_FILE, again)
    assert _sha256(again) == info.int8_sha256  # same fp32 graph in, same bytes out


def test_int8_vectors_are_close_to_fp32_and_do_not_depend_on_batch_mates(
    int8_encoder, embedder, model
):
    """Measured (2026-11-23): news paragraphs and sentences >= 0.988 (mean 0.991) to the
    sentence-transformers vectors; degenerate strings lower ('?!' 0.957, 'x' * 5000 0.971)."""
    degenerate = {"?!", "x" * 5000, "", "   ", "a"}
    news = [p.full_text for a in read_articles([DEMO]).articles for p in a.paragraphs][::4]
    texts = VARIED + news
    reference = embedder.encode(texts)
    got = int8_encoder.encode(texts)
    assert got.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cosines = dict(zip(texts, (got * reference).sum(axis=1), strict=True))
    natural = [c for t, c in cosines.items() if t not in degenerate]
    assert min(natural) >= 0.98, sorted(natural)[:5]
    assert min(cosines.values()) >= 0.95
    assert float(np.mean(list(cosines.values()))) >= 0.985
    assert max(natural) < 0.9999  # it really is another encoder, not fp32 under a new name
    # A query is encoded alone; the same text indexed among others gets the same vector.
    query = open_encoder(model, None, INT8)
    singles = np.stack([query.encode_query(t) for t in texts])
    assert float((singles * got).sum(axis=1).min()) >= 0.99999


def test_int8_runs_on_the_cpu_only(model):
    with pytest.raises(ModelError, match="--int8 encodes on the CPU"):
        OnnxEncoder(model, INT8, device="cuda")
    assert OnnxEncoder(model, INT8, device="cpu").info.precision == "int8"


# -- an int8 index --------------------------------------------------------------------------


def test_int8_build_in_a_new_process_imports_no_torch(rebuilt):
    _, report, imported, _, _ = rebuilt
    assert report["mode"] == "full" and report["articles"] == 32
    assert "onnxruntime" in imported and not imported & HEAVY


def test_meta_and_status_record_the_precision(rebuilt):
    index_dir = rebuilt[0]
    layout = IndexLayout(index_dir)
    raw = json.loads((layout.current() / META).read_text(encoding="utf-8"))
    assert raw["model"]["precision"] == "int8"
    assert layout.read_meta(layout.current()).model.precision == "int8"
    result = run("status", "-i", index_dir, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["precision"] == "int8"


def test_cache_never_gives_fp32_vectors_to_an_int8_build(rebuilt, model):
    """The copied index's cache held an fp32 vector for every text; the int8 rebuild reused
    none of them and stored its own, which differ."""
    index_dir, report, _, _, _ = rebuilt
    assert report["embedded"] > 0 and report["reused_embeddings"] == 0
    conn = sqlite3.connect(str(IndexLayout(index_dir).cache_path))
    rows = dict(conn.execute("SELECT model, count(*) FROM embeddings GROUP BY model"))
    fp32, int8 = model_key(model.sha256), model_key(model.sha256, "int8")
    assert set(rows) == {fp32, int8} and rows[fp32] == rows[int8]
    pairs = conn.execute(
        "SELECT a.vector, b.vector FROM embeddings a JOIN embeddings b ON a.key = b.key "
        "WHERE a.model = ? AND b.model = ?",
        (fp32, int8),
    ).fetchall()
    conn.close()
    cos = [float(np.frombuffer(a, np.float32) @ np.frombuffer(b, np.float32)) for a, b in pairs]
    assert len(cos) == rows[fp32] and min(cos) > 0.95 and float(np.median(cos)) < 0.9999


def test_cache_keys_precisions_apart(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "f" * 64, 4)
    key = text_key("same text")
    cache.put_many([key], np.ones((1, 4), np.float32))
    cache.close()
    int8 = EmbeddingCache(tmp_path / "c.sqlite", "f" * 64, 4, "int8")
    assert int8.get_many([key]) == {}
    int8.close()
    again = EmbeddingCache(tmp_path / "c.sqlite", "f" * 64, 4)  # fp32 rows keep their key
    assert list(again.get_many([key])) == [key]
    again.close()


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_int8_index_finds_the_expected_articles_through_the_cli(rebuilt, mode):
    index_dir = rebuilt[0]
    for query, expected in EXPECTED.items():
        result = run("query", query, "-i", index_dir, "--mode", mode, "-k", "1", "--json")
        assert result.exit_code == 0, result.output
        top = json.loads(result.stdout)["hits"][0]["article_id"]
        assert expected in top, (query, top)


def test_queries_of_an_int8_index_use_the_int8_encoder(rebuilt, model, embedder):
    index_dir = rebuilt[0]
    with Searcher(index_dir) as s:
        got = s.encode_query("security guarantees")
    want = open_encoder(model, None, INT8).encode_query("security guarantees")
    assert float(got @ want) >= 0.99999
    with pytest.raises(ModelError, match="holds int8 vectors but the encoder given is fp32"):
        Searcher(index_dir, embedder=embedder)


def test_refresh_after_an_int8_rebuild_switches_the_query_encoder(rebuilt, model):
    _, _, _, before, fp32_hits = rebuilt
    assert before.meta.model.precision == "fp32" and fp32_hits
    assert before.refresh() is True and before.meta.model.precision == "int8"
    got = before.encode_query("security guarantees")
    want = open_encoder(model, None, INT8).encode_query("security guarantees")
    assert float(got @ want) >= 0.99999
    assert "valdoria" in before.search("security guarantees", k=1, mode="dense").hits[0].article_id


# -- never mixed ----------------------------------------------------------------------------


def test_mixing_precisions_is_refused_with_what_to_run(rebuilt, demo_index, tmp_path):
    int8_dir = rebuilt[0]
    fp32_dir = tmp_path / "fp32"
    shutil.copytree(demo_index, fp32_dir)
    for index_dir, flag, holds in ((fp32_dir, "--int8", "fp32"), (int8_dir, "--fp32", "int8")):
        result = run("index", DEMO, "-i", index_dir, flag)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
        assert f"holds {holds} vectors" in lines[0] and f"--rebuild {flag}" in lines[0]
    # Without a flag an update keeps the index's precision.
    result = run("index", DEMO, "-i", int8_dir, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["mode"] == "unchanged"


def test_an_edit_to_an_int8_index_is_encoded_in_int8(tmp_path, model, int8_encoder):
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO / "world", corpus / "world")
    index_dir = tmp_path / "ix"
    build_index([corpus], index_dir, BuildOptions(int8=True), embedder=OnnxEncoder(model, INT8))
    text = "Zebras crossed the border at dawn, officials in Korvena said on Monday."
    write(corpus / "world" / "zebras.txt", f"Zebra crossing\n\n{text}\n")
    report = update_index([corpus], index_dir)  # no option, no encoder: the index's own
    assert report.mode == "incremental" and report.embedded == 1
    doc = f"Zebra crossing. {text}"  # the headline is embedded with the paragraph
    want = int8_encoder.encode([doc])[0]
    with Searcher(index_dir) as s:
        assert s.meta.model.precision == "int8"
        query = "zebras at the border"
        hit = s.search(query, k=1, mode="dense").hits[0]
        assert hit.article_id == "world/zebras.txt"
        # FAISS holds the int8 vector: its score is the int8 query . int8 document cosine.
        score = float(s.encode_query(query) @ want)
        assert hit.paragraphs[0].vector_score == pytest.approx(score, abs=1e-5)
    cache = EmbeddingCache(IndexLayout(index_dir).cache_path, model.sha256, 384, "int8")
    stored = cache.get_many([text_key(doc)])
    cache.close()
    assert len(stored) == 1 and float(stored[text_key(doc)] @ want) >= 0.99999


def test_build_options_and_encoder_must_agree(tmp_path, embedder):
    with pytest.raises(ModelError, match="int8=True"):
        build_index([DEMO / "world"], tmp_path / "ix", BuildOptions(int8=True), embedder=embedder)


# -- older indexes --------------------------------------------------------------------------


def test_meta_without_precision_reads_as_fp32(demo_index, tmp_path, embedder):
    index_dir = tmp_path / "old"
    shutil.copytree(demo_index, index_dir)
    layout = IndexLayout(index_dir)
    meta_file = layout.current() / META
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    del data["model"]["precision"]  # as written before int8 existed
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    assert layout.read_meta(layout.current()).model.precision == "fp32"
    with Searcher(index_dir) as s, Searcher(index_dir, embedder=embedder) as ref:
        got = s.search("security guarantees", k=1, mode="dense").hits[0]
        want = ref.search("security guarantees", k=1, mode="dense").hits[0]
        assert got.article_id == want.article_id
    data["model"]["precision"] = "fp4"
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="unknown vector precision 'fp4'"):
        layout.read_meta(layout.current())


def test_eval_builds_and_scores_an_int8_index_and_keeps_precisions_apart(tmp_path, int8_export):
    root = tmp_path / "tiny"
    docs = {
        "d1": ("Rail strike", "Freight railway staff began a 48-hour strike at the harbour."),
        "d2": ("Rates held", "The central bank left interest rates unchanged on Thursday."),
        "d3": ("Dengue vaccine", "A vaccine against dengue protected most trial volunteers."),
    }
    write(
        root / "corpus.jsonl",
        "\n".join(json.dumps({"_id": d, "title": t, "text": x}) for d, (t, x) in docs.items()),
    )
    queries = {"q1": "rail workers walk out at the port", "q2": "bank keeps rates on hold"}
    write(
        root / "queries.jsonl",
        "\n".join(json.dumps({"_id": q, "text": t}) for q, t in queries.items()),
    )
    write(root / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    index_dir = tmp_path / "ix"
    args = ["eval", root, "--split", "test", "-i", index_dir, "--mode", "dense"]
    result = run(*args, "--int8", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["metrics"]["mrr@10"] == 1.0
    layout = IndexLayout(index_dir)
    assert layout.read_meta(layout.current()).model.precision == "int8"
    refused = run(*args, "--fp32")
    assert refused.exit_code == 1 and "holds int8 vectors, not fp32" in refused.output
    assert "--rebuild" in refused.output and "Traceback" not in refused.output
