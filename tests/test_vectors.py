"""The FAISS index on disk: ids pack (paragraph, window); a paragraph scores by its best window."""

import numpy as np
import pytest

from newsearch.indexer.errors import IndexFormatError
from newsearch.indexer.vectors import VectorIndex, paragraph_of, vector_id, write_index


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


def test_hnsw_past_the_threshold_and_its_recall(tmp_path):
    """Large indexes switch to HNSW; on clustered data it finds what exact search finds."""
    from newsearch.indexer.vectors import HNSW_MIN_VECTORS, choose_kind

    assert choose_kind(HNSW_MIN_VECTORS - 1) == "flat"
    assert choose_kind(HNSW_MIN_VECTORS) == "hnsw"
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
