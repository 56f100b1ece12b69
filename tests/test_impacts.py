"""The memory-mapped postings arrays beside the Whoosh index, on real indexes on disk.

They must hold exactly Whoosh's postings (so BM25F ranks as Whoosh does), stay in step
through incremental updates (new segments, deletions, Whoosh's merges), never change the
files of a generation hard-linked from an older one, and give way to Whoosh's own postings
when they are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from test_bm25 import assert_same_as_whoosh, demo_docs, sample_queries
from whoosh import index as whoosh_index

from newsearch.indexer.bm25 import BM25Arrays, CorpusStats
from newsearch.indexer.impacts import PREFIX, Impacts, write_impacts
from newsearch.indexer.keyword import KeywordDoc, KeywordIndex, apply_changes, write_index
from newsearch.indexer.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, copy_generation


@pytest.fixture(scope="module")
def docs() -> list[KeywordDoc]:
    return demo_docs()


def impact_files(directory: Path) -> set[str]:
    return {f.name for f in directory.iterdir() if f.name.startswith(PREFIX)}


def assert_arrays_hold_whoosh_postings(directory: Path) -> None:
    """Every (field, term) of every segment: same documents, frequencies and document
    frequency from the arrays as from Whoosh's own postings."""
    ix = whoosh_index.open_dir(str(directory))
    with ix.reader() as reader:
        impacts = Impacts.open(directory, reader)
        assert impacts is not None
        plain = BM25Arrays(reader, ("text", "title"))  # decodes Whoosh's postings
        checked = 0
        for field in ("text", "title"):
            for tbytes in reader.lexicon(field):
                term = tbytes.decode("utf-8")
                docs, tf = impacts.postings(field, term)
                want_docs, want_tf = plain.postings(reader, field, term)
                # Whoosh's deletion filter may have skipped some deleted documents' postings
                # before they were read; the arrays keep them all. Live ones must agree.
                live = plain.alive[docs]
                want_live = plain.alive[want_docs]
                assert np.array_equal(docs[live], want_docs[want_live]), term
                assert np.array_equal(tf[live].astype(np.float64), want_tf[want_live]), term
                assert impacts.doc_frequency(field, term) == reader.doc_frequency(field, term)
                checked += 1
        assert checked > 500
        assert impacts.postings("text", "zzzznotaword")[0].size == 0


def test_written_with_the_index_and_equal_to_whoosh_postings(tmp_path, docs):
    write_index(tmp_path, docs)
    files = impact_files(tmp_path)
    assert len(files) == 5  # one segment: ptr, docs, tf, offsets, terms
    assert_arrays_hold_whoosh_postings(tmp_path)
    index = KeywordIndex(tmp_path)
    assert index._bm25(index._searcher().reader()).impacts is not None
    assert_same_as_whoosh(index, sample_queries(docs, 60, seed=21))


def test_in_step_after_incremental_updates_and_merges(tmp_path, docs):
    """Several real updates: each adds a segment (Whoosh merges small ones now and then) and
    deletes articles; the arrays follow, and rankings stay Whoosh's."""
    third = len(docs) // 3
    write_index(tmp_path, docs[:third])
    articles = sorted({d.article_id for d in docs[:third]})
    batches = [docs[third : 2 * third], docs[2 * third :], [], []]
    for i, batch in enumerate(batches):
        apply_changes(tmp_path, articles[2 * i : 2 * i + 2], batch)
        ix = whoosh_index.open_dir(str(tmp_path))
        with ix.reader() as reader:
            segments = {leaf._segment.segment_id() for leaf, _ in reader.leaf_readers()}
            assert reader.has_deletions() or len(segments) == 1
        # arrays for exactly the segments Whoosh lists now
        assert {f.split(".")[0][len(PREFIX) :] for f in impact_files(tmp_path)} == segments
        assert_arrays_hold_whoosh_postings(tmp_path)
        index = KeywordIndex(tmp_path)
        assert index._bm25(index._searcher().reader()).impacts is not None
        assert_same_as_whoosh(index, sample_queries(docs, 40, seed=31 + i))
        gone = {d.pid for d in docs if d.article_id in set(articles[: 2 * i + 2])}
        hits = {p for p, _ in index.search(" ".join(d.text for d in docs[:40]), 1000)}
        assert not hits & gone
        index.close()


def test_update_of_a_hard_linked_generation_leaves_the_old_one_untouched(tmp_path, docs):
    """What an incremental update does: link the published generation's keyword files into
    a new generation and write there. The old generation's arrays keep their bytes."""
    old, new = tmp_path / "old", tmp_path / "new"
    half = len(docs) // 2
    write_index(old / KEYWORD_DIR, docs[:half])
    (old / DOCSTORE_FILE).write_bytes(b"")
    (old / VECTORS_FILE).write_bytes(b"")
    before = {f: (old / KEYWORD_DIR / f).read_bytes() for f in impact_files(old / KEYWORD_DIR)}
    copy_generation(old, new)
    linked = next(iter(before))
    assert os.stat(old / KEYWORD_DIR / linked).st_ino == os.stat(new / KEYWORD_DIR / linked).st_ino
    apply_changes(new / KEYWORD_DIR, [docs[0].article_id], docs[half:])
    assert {f: (old / KEYWORD_DIR / f).read_bytes() for f in before} == before
    assert impact_files(new / KEYWORD_DIR) != set(before)
    assert_same_as_whoosh(KeywordIndex(old / KEYWORD_DIR), sample_queries(docs, 30, seed=41))
    assert_same_as_whoosh(KeywordIndex(new / KEYWORD_DIR), sample_queries(docs, 30, seed=42))


def test_missing_or_stale_arrays_fall_back_to_whoosh_postings(tmp_path, docs):
    write_index(tmp_path, docs)
    terms = next(f for f in impact_files(tmp_path) if f.endswith(".terms"))
    (tmp_path / terms).unlink()
    index = KeywordIndex(tmp_path)
    assert index._bm25(index._searcher().reader()).impacts is None
    assert_same_as_whoosh(index, sample_queries(docs, 30, seed=51))
    assert write_impacts(tmp_path) > 0  # rewritten for the segment that lacked them
    assert_arrays_hold_whoosh_postings(tmp_path)
    # arrays that do not fit their terms file (damaged, or another segment's) are not used
    ptr = next(f for f in impact_files(tmp_path) if f.endswith(".ptr.npy"))
    np.save(tmp_path / ptr, np.arange(5, dtype=np.int64))
    index = KeywordIndex(tmp_path)
    assert index._bm25(index._searcher().reader()).impacts is None
    assert_same_as_whoosh(index, sample_queries(docs, 20, seed=52))
    (tmp_path / ptr).write_bytes(b"not an array")
    assert KeywordIndex(tmp_path).search("security", 5)


def test_global_statistics_rescore_from_the_arrays(tmp_path, docs):
    """A shard scores with the corpus's statistics (``stats=``): from the arrays' frequencies,
    the same as from Whoosh's postings, and equal to the index's own when they are its own."""
    write_index(tmp_path, docs)
    with_arrays = KeywordIndex(tmp_path)
    for q in sample_queries(docs, 30, seed=61):
        own = with_arrays.stats(q)
        assert with_arrays.search(q, 50, stats=own) == with_arrays.search(q, 50)
        bigger = CorpusStats(
            own.n * 3,
            {k: v * 2 for k, v in own.df.items()},
            {f: v * 4 for f, v in own.field_length.items()},
        )
        got = with_arrays.search(q, 50, stats=bigger)
        reader = with_arrays._searcher().reader()
        plain = BM25Arrays(reader, ("text", "title"))
        terms = with_arrays.query_terms(q)
        weights = {"text": 1.0, "title": with_arrays.config.title_boost}
        cfg = with_arrays.config
        want = plain.search(reader, terms, weights, cfg.k1, cfg.b, 50, None, bigger)
        assert got == want, q


def test_a_repeated_query_word_adds_its_contribution_again(tmp_path, docs):
    write_index(tmp_path, docs)
    index = KeywordIndex(tmp_path)
    reader = index._searcher().reader()
    arrays = index._bm25(reader)
    assert arrays.impacts is not None
    weights = {"text": 1.0, "title": 0.5}
    once = dict(arrays.search(reader, ["secur"], weights, 0.9, 0.75, 100))
    twice = dict(arrays.search(reader, ["secur", "secur"], weights, 0.9, 0.75, 100))
    mixed = dict(arrays.search(reader, ["secur", "guarante", "secur"], weights, 0.9, 0.75, 100))
    other = dict(arrays.search(reader, ["guarante"], weights, 0.9, 0.75, 100))
    assert once and set(once) == set(twice)
    for pid, score in once.items():
        assert twice[pid] == pytest.approx(2 * score, rel=1e-12)
        assert mixed[pid] == pytest.approx(2 * score + other.get(pid, 0.0), rel=1e-12)
