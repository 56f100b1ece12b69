"""The FAISS index on disk: ids pack (paragraph, window); a paragraph scores by its best window."""

import re
import shutil

import numpy as np
import pytest
from conftest import SHARED, require_shared

from newsearch.indexer import read_articles
from newsearch.indexer.errors import IndexFormatError
from newsearch.indexer.vectors import (
    IVF_MIN_VECTORS,
    VectorIndex,
    apply_changes,
    choose_kind,
    ivf_cells,
    paragraph_of,
    vector_id,
    write_index,
)

ZEBRA = (
    "Zebras cross the Mara river\n\n"
    "Thousands of zebras crossed the Mara river on Sunday in the first migration of the season.\n"
)


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_ids_round_trip():
    for pid in (0, 1, 12345, 2**40):
        for w in (0, 1, 63):
            assert paragraph_of(vector_id(pid, w)) == pid


def test_search_returns_paragraphs_by_best_window(tmp_path):
    vecs = np.stack([unit([1, 0, 0]), unit([0, 1, 0]), unit([0.9, 0.1, 0]), unit([0, 0, 1])])
    ids = np.array([vector_id(7, 0), vector_id(7, 1), vector_id(8, 0), vector_id(9, 0)])
    path = tmp_path / "v.faiss"
    assert write_index(path, 3, ids, vecs) == 4
    index = VectorIndex(path, 3)
    hits = index.ranked(unit([0, 1, 0.05]), 10)
    assert [pid for pid, _ in hits] == [7, 8, 9]  # 7 via its second window, once
    assert hits[0][1] == pytest.approx(float(unit([0, 1, 0.05]) @ unit([0, 1, 0])), rel=1e-5)
    assert index.ranked(unit([1, 0, 0]), 1)[0][0] == 7
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


def test_wrong_dimension_and_damaged_file_are_clear_errors(tmp_path):
    path = tmp_path / "v.faiss"
    write_index(path, 3, np.array([1]), unit([[1, 0, 0]]))
    with pytest.raises(IndexFormatError, match="dimension"):
        VectorIndex(path, 384)
    path.write_bytes(b"garbage")
    with pytest.raises(IndexFormatError):
        VectorIndex(path, 3)


def test_empty_index(tmp_path):
    path = tmp_path / "v.faiss"
    write_index(path, 4, np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.float32))
    assert VectorIndex(path, 4).ranked(unit([1, 0, 0, 0]), 5) == []


def test_truncated_file_is_a_clear_error_not_a_crash(tmp_path):
    """The vectors are memory-mapped: a short file must fail at open, never at search."""
    path = tmp_path / "v.faiss"
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((200, 8)).astype(np.float32)
    write_index(path, 8, np.arange(200), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError):
        VectorIndex(path, 8)


def test_hnsw_indexes_still_build_search_and_refuse_deletes(tmp_path):
    """HNSW is no longer chosen by size, but an index written as HNSW keeps opening, finds
    what exact search finds on clustered data, and an update that deletes asks for a
    rebuild."""
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((40, 32))
    vecs = centres[rng.integers(0, 40, 6000)] + 0.3 * rng.standard_normal((6000, 32))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    ids = np.array([vector_id(p, 0) for p in range(6000)])
    write_index(tmp_path / "h.faiss", 32, ids, vecs, kind="hnsw")
    write_index(tmp_path / "f.faiss", 32, ids, vecs, kind="auto")
    hnsw, flat = VectorIndex(tmp_path / "h.faiss", 32), VectorIndex(tmp_path / "f.faiss", 32)
    assert (hnsw.kind, flat.kind) == ("hnsw", "flat")
    assert sorted(hnsw.ids().tolist()) == sorted(ids.tolist())
    found = []
    for q in vecs[rng.integers(0, 6000, 100)] + 0.1 * rng.standard_normal((100, 32)):
        q = unit(q)
        want = {pid for pid, _ in flat.ranked(q, 10)}
        got = [pid for pid, _ in hnsw.ranked(q, 10)]
        assert len(got) == 10
        found.append(len(want & set(got)) / 10)
    assert np.mean(found) >= 0.95
    with pytest.raises(ValueError, match="kind"):
        write_index(tmp_path / "x.faiss", 32, ids, vecs, kind="ivf")
    with pytest.raises(IndexFormatError, match="HNSW"):
        apply_changes(tmp_path / "h.faiss", [3], ids[:0], vecs[:0])


def test_search_fills_the_limit_when_long_paragraphs_crowd_the_top(tmp_path):
    """Ten paragraphs of 30 near-identical windows each: the first 2*limit+8 windows belong to
    a few paragraphs only, yet ``limit`` paragraphs must come back."""
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=8))
    ids, vecs = [], []
    for pid in range(10):
        for w in range(30):
            ids.append(vector_id(pid, w))
            vecs.append(unit(base + 0.01 * rng.normal(size=8) + 0.1 * pid * np.eye(8)[pid % 8]))
    path = tmp_path / "v.faiss"
    write_index(path, 8, np.array(ids), np.stack(vecs))
    hits = VectorIndex(path, 8).ranked(base, 6)
    assert len(hits) == 6 and len({pid for pid, _ in hits}) == 6
    assert len(VectorIndex(path, 8).ranked(base, 50)) == 10


# -- IVF-SQ8: what indexes past IVF_MIN_VECTORS get ---------------------------------------


@pytest.fixture(scope="module")
def bbc_vectors(embedder):
    """Real vectors: first sentences of 1,200 BBC paragraphs (short texts, and not more of
    them: encoding is most of this module's time), and 60 BBC headlines as queries, encoded
    by the real model."""
    read = read_articles([require_shared(SHARED / "data" / "bbc")])
    sentences, titles = [], []
    for a in read.articles:
        titles.append(a.title)
        for p in a.paragraphs:
            sentences.append(re.split(r"(?<=[.!?])\s", p.text, maxsplit=1)[0])
    sentences = sorted(set(sentences))[::8][:1200]
    queries = sorted(set(titles))[1::20][:60]
    return embedder.encode(sentences), embedder.encode(queries)


def test_choose_kind_switches_to_ivf_at_the_threshold():
    assert choose_kind(IVF_MIN_VECTORS - 1) == "flat"
    assert choose_kind(IVF_MIN_VECTORS) == "ivf-sq8"
    assert (choose_kind(999, ivf_min=1000), choose_kind(1000, ivf_min=1000)) == ("flat", "ivf-sq8")
    assert ivf_cells(1_000_000) == 1000 and ivf_cells(100) == 16


def test_ivf_sq8_finds_what_exact_search_finds_on_real_vectors(tmp_path, bbc_vectors):
    """Built past a (small, overridden) threshold, the index is IVF-SQ8: a quarter of the
    bytes, scores within quantization error of the cosine, and, scanning every cell, the same
    top ten as exact search for real queries (8-bit codes alone cost little recall). With
    the default share of cells most of it remains even at this size, where a cell holds ~34
    vectors; bench/vectors_scale.py measures the default at 100k and 1M (>= 0.98)."""
    vecs, queries = bbc_vectors
    ids = np.array([vector_id(p, 0) for p in range(len(vecs))])
    assert write_index(tmp_path / "i.faiss", 384, ids, vecs, kind="auto", ivf_min=1000) == 1200
    write_index(tmp_path / "f.faiss", 384, ids, vecs, kind="auto", ivf_min=10_000)
    flat = VectorIndex(tmp_path / "f.faiss", 384)
    every = VectorIndex(tmp_path / "i.faiss", 384, nprobe=ivf_cells(1200))
    default = VectorIndex(tmp_path / "i.faiss", 384)
    assert (default.kind, flat.kind) == ("ivf-sq8", "flat")
    assert (tmp_path / "i.faiss").stat().st_size < 0.3 * (tmp_path / "f.faiss").stat().st_size
    assert sorted(default.ids().tolist()) == ids.tolist()
    recall: dict[str, list[float]] = {"every": [], "default": []}
    for q in queries:
        want = {p for p, _ in flat.ranked(q, 10)}
        exact = dict(flat.ranked(q, 1200))
        for name, index in (("every", every), ("default", default)):
            got = index.ranked(q, 10)
            assert len(got) == 10
            recall[name].append(len(want & {p for p, _ in got}) / 10)
            assert max(abs(s - exact[p]) for p, s in got) < 0.01
    assert np.mean(recall["every"]) >= 0.97
    assert np.mean(recall["default"]) >= 0.85


def test_ivf_fills_the_limit_when_its_cells_hold_too_few(tmp_path, bbc_vectors):
    """Scanning 2 of 35 cells finds fewer vectors than a hybrid query's 1000 candidates: the
    search widens to more cells instead of coming back short."""
    vecs, queries = bbc_vectors
    ids = np.array([vector_id(p, 0) for p in range(len(vecs))])
    write_index(tmp_path / "i.faiss", 384, ids, vecs, kind="ivf-sq8")
    narrow = VectorIndex(tmp_path / "i.faiss", 384, nprobe=2)
    for q in queries[:10]:
        hits = narrow.ranked(q, 1000)
        assert len(hits) == 1000 and len({p for p, _ in hits}) == 1000
    assert len(narrow.ranked(queries[0], 5000)) == 1200


def test_ivf_update_deletes_and_adds_in_place_and_reopens(tmp_path, bbc_vectors):
    """An incremental update on IVF-SQ8: every window of a removed paragraph goes, new
    vectors are found, and the rewritten file reopens (twice over)."""
    vecs, queries = bbc_vectors
    # Paragraphs 0..299 have three windows each (three real vectors), the rest one.
    ids = [vector_id(p // 3, p % 3) for p in range(900)]
    ids += [vector_id(300 + p, 0) for p in range(300)]
    ids = np.array(ids)
    path = tmp_path / "v.faiss"
    write_index(path, 384, ids, vecs, kind="ivf-sq8")
    before = VectorIndex(path, 384)
    gone = sorted({p for p, _ in before.ranked(queries[0], 5)})  # paragraphs a query finds
    gone += [7, 400]  # and one with three windows, one with one
    new_ids = np.array([vector_id(5000, 0), vector_id(5000, 1), vector_id(5001, 0)])
    new_vecs = np.stack([unit(queries[1]), unit(queries[2]), unit(queries[3] + 0.01)])
    n = apply_changes(path, gone, new_ids, new_vecs)
    after = VectorIndex(path, 384)
    assert after.kind == "ivf-sq8"
    keep = ids[~np.isin(ids >> 6, gone)]
    assert n == after.ntotal == len(keep) + 3
    assert sorted(after.ids().tolist()) == sorted([*keep.tolist(), *new_ids.tolist()])
    for q in queries[:20]:
        assert not {p for p, _ in after.ranked(q, 50)} & set(gone)
    assert after.ranked(queries[1], 1)[0][0] == 5000
    assert after.ranked(queries[2], 1)[0][0] == 5000
    assert after.ranked(queries[3], 1)[0][0] == 5001
    # A second update on the rewritten file: remove the new paragraph again.
    assert apply_changes(path, [5000], new_ids[:0], new_vecs[:0]) == n - 2
    assert 5000 not in {p for p, _ in VectorIndex(path, 384).ranked(queries[1], 10)}


def test_truncated_ivf_file_is_a_clear_error(tmp_path, bbc_vectors):
    vecs, _ = bbc_vectors
    path = tmp_path / "v.faiss"
    write_index(path, 384, np.arange(len(vecs)) << 6, vecs, kind="ivf-sq8")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError):
        VectorIndex(path, 384)


def test_an_ivf_index_is_built_and_updated_incrementally_end_to_end(tmp_path, embedder):
    """The product path: a build asked for IVF-SQ8 writes it, an added and then deleted
    article go through ``update_index`` incrementally (no rebuild), and the three stores
    stay in step."""
    from conftest import DEMO, write
    from index_checks import check_consistent

    from newsearch.indexer import BuildOptions, IndexLayout
    from newsearch.indexer.layout import VECTORS_FILE
    from newsearch.indexer.update import update_index
    from newsearch.search import Searcher

    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    shutil.copytree(DEMO, corpus)
    opts = BuildOptions(vector_index="ivf-sq8")
    assert update_index([corpus], index_dir, opts, embedder=embedder).mode == "full"
    layout = IndexLayout(index_dir)
    meta = layout.read_meta(layout.current())
    assert VectorIndex(layout.current() / VECTORS_FILE, meta.model.dim).kind == "ivf-sq8"
    _, pids0 = check_consistent(index_dir)

    write(corpus / "world" / "zebras.txt", ZEBRA)
    assert update_index([corpus], index_dir, opts, embedder=embedder).mode == "incremental"
    check_consistent(index_dir)
    with Searcher(index_dir) as s:
        assert s.search("zebra migration river", k=1, mode="dense").hits[0].article_id == (
            "world/zebras.txt"
        )
    (corpus / "world" / "zebras.txt").unlink()
    report = update_index([corpus], index_dir, opts, embedder=embedder)
    assert (report.mode, report.deleted) == ("incremental", 1)
    _, pids = check_consistent(index_dir)
    assert len(pids) == len(pids0)
    assert VectorIndex(layout.current() / VECTORS_FILE, meta.model.dim).kind == "ivf-sq8"


def test_ivf_hands_back_stored_paragraph_vectors_by_id(tmp_path, bbc_vectors):
    """Related stories read an article's vectors back from the index; an IVF index finds a
    vector by id only through a direct map, built on first use: every window of a paragraph
    comes back (decoded from 8 bits, within quantization error), a missing paragraph gives
    no row, and the flat index agrees."""
    vecs, _ = bbc_vectors
    ids = np.array([vector_id(p // 2, p % 2) for p in range(len(vecs))])
    write_index(tmp_path / "i.faiss", 384, ids, vecs, kind="ivf-sq8")
    write_index(tmp_path / "f.faiss", 384, ids, vecs, kind="flat")
    ivf, flat = VectorIndex(tmp_path / "i.faiss", 384), VectorIndex(tmp_path / "f.faiss", 384)
    got, exact = ivf.paragraph_vectors([3, 7, 10**6]), flat.paragraph_vectors([3, 7, 10**6])
    assert got.shape == exact.shape == (4, 384)
    assert np.allclose(exact, vecs[[6, 7, 14, 15]])
    assert np.abs(got - exact).max() < 0.02
