"""The numpy BM25F scorer against Whoosh's own searcher, on real Whoosh indexes on disk.

The numpy path replaced Whoosh's searcher for speed; these tests hold it to Whoosh's ranking
(same paragraphs in the same order, same scores to float rounding), also after incremental
changes (several segments, deleted documents) and on indexes written before the id column.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema

from newsearch.indexer.bm25 import PID_COLUMN
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.keyword import (
    KeywordConfig,
    KeywordDoc,
    KeywordIndex,
    apply_changes,
    keyword_docs,
    make_schema,
    write_index,
)

DEMO = Path(__file__).resolve().parents[1] / "demo" / "articles"


def demo_docs() -> list[KeywordDoc]:
    articles = read_articles([DEMO]).articles
    rows = [(a, pos) for a in articles for pos in range(len(a.paragraphs))]
    return list(keyword_docs(list(range(len(rows))), rows))


def sample_queries(docs: list[KeywordDoc], n: int = 120, seed: int = 7) -> list[str]:
    """Word runs from the paragraphs and headlines (2-8 words), plus some made-up mixes."""
    rng = random.Random(seed)
    queries = []
    for _ in range(n):
        d = rng.choice(docs)
        words = (d.text if rng.random() < 0.8 else d.title).split()
        size = rng.choice([1, 2, 3, 5, 8])
        start = rng.randrange(max(1, len(words) - size))
        queries.append(" ".join(words[start : start + size]))
    queries += ["security guarantees", "rates inflation central bank", "zzzz qqqq security"]
    return queries


def assert_same_as_whoosh(index: KeywordIndex, queries: list[str], limit: int = 50) -> None:
    for q in queries:
        ours = index.search(q, limit)
        theirs = index.search_whoosh(q, limit)
        assert [p for p, _ in ours] == [p for p, _ in theirs], q
        for (_, a), (_, b) in zip(ours, theirs, strict=True):
            assert a == pytest.approx(b, rel=1e-9), q


@pytest.fixture(scope="module")
def docs() -> list[KeywordDoc]:
    return demo_docs()


@pytest.fixture(scope="module")
def index(tmp_path_factory, docs) -> KeywordIndex:
    d = tmp_path_factory.mktemp("bm25")
    write_index(d, docs)
    return KeywordIndex(d)


def test_same_ranking_and_scores_as_whoosh(index, docs):
    assert len(docs) > 150
    queries = sample_queries(docs)
    assert_same_as_whoosh(index, queries)
    # and most did retrieve things (one-word samples can be stopwords like "a"): the
    # comparison is not between two empty lists
    assert sum(bool(index.search(q, 10)) for q in queries) > 0.8 * len(queries)


def test_other_parameters_and_no_headline_field(tmp_path, docs):
    write_index(tmp_path, docs)
    for config in (
        KeywordConfig(k1=1.5, b=0.3, title_boost=0.0),
        KeywordConfig(k1=0.5, b=1.0),
        KeywordConfig(k1=0.6, b=0.4, title_boost=0.3, idf="lucene"),  # Whoosh told the same
    ):
        assert_same_as_whoosh(KeywordIndex(tmp_path, config), sample_queries(docs, 40, seed=3))


def test_lucene_idf_is_a_query_time_choice(index, docs):
    """The same index scored with Lucene's idf: other scores, and the ceiling uses it too."""
    lucene = KeywordIndex(index._directory, KeywordConfig(idf="lucene"))
    query = "security guarantees ceasefire"
    ours, theirs = index.search(query, 5), lucene.search(query, 5)
    assert ours and theirs and ours[0][1] != theirs[0][1]
    assert theirs[0][1] <= lucene.max_score(query) + 1e-9
    assert lucene.max_score(query) != index.max_score(query)
    with pytest.raises(ValueError, match="unknown idf"):
        KeywordConfig(idf="bm42")


def test_field_lengths_and_ids_read_as_arrays_match_whoosh(index, docs):
    reader = index._searcher().reader()
    arrays = index._bm25(reader)
    assert arrays.n == len(docs)
    for d in range(arrays.n):
        assert arrays.pids[d] == int(reader.stored_fields(d)["pid"])
        for f in ("text", "title"):
            assert arrays.lengths[f][d] == reader.doc_field_length(d, f, 0)


def test_same_as_whoosh_after_incremental_changes(tmp_path, docs):
    """An incremental update adds a segment and marks deleted documents in the old one."""
    half = len(docs) // 2
    write_index(tmp_path, docs[:half])
    gone = sorted({d.article_id for d in docs[:half]})[:3]
    apply_changes(tmp_path, gone, docs[half:])
    index = KeywordIndex(tmp_path)
    reader = index._searcher().reader()
    assert len(list(reader.leaf_readers())) == 2 and reader.has_deletions()
    assert_same_as_whoosh(index, sample_queries(docs, 80, seed=11))
    deleted = {d.pid for d in docs[:half] if d.article_id in gone}
    for d in docs:
        if d.pid in deleted:
            assert d.pid not in {p for p, _ in index.search(d.text, 1000)}


def test_index_without_the_id_column_reads_ids_from_stored_fields(tmp_path, docs):
    """Indexes written before the id column existed still search, with the same ranking."""
    old = make_schema()
    assert PID_COLUMN in old.names()
    schema = Schema(
        pid=ID(stored=True, unique=True),
        article=ID(stored=True),
        text=old["text"],
        title=old["title"],
    )
    assert isinstance(schema["text"], TEXT)
    ix = whoosh_index.create_in(str(tmp_path), schema)
    with ix.writer() as w:
        for d in docs:
            w.add_document(pid=str(d.pid), article=d.article_id, text=d.text, title=d.title)
    index = KeywordIndex(tmp_path)
    assert_same_as_whoosh(index, sample_queries(docs, 40, seed=5))


def test_phrase_queries_score_as_whoosh_scores_them(index, docs):
    """Quoted phrases are matched by Whoosh's phrase matchers and added to the word scores."""
    rng = random.Random(13)
    queries = ['"security guarantees"', 'ceasefire "security guarantees" allies']
    for q in sample_queries(docs, 40, seed=13):
        words = q.split()
        if len(words) >= 3:
            i = rng.randrange(len(words) - 1)
            queries.append(" ".join([*words[:i], f'"{words[i]} {words[i + 1]}"', *words[i + 2 :]]))
    assert len(queries) > 20
    assert_same_as_whoosh(index, queries)


def test_threads_share_the_arrays_and_agree(index, docs):
    queries = sample_queries(docs, 60, seed=9)
    expected = {q: index.search(q, 20) for q in queries}
    errors: list[str] = []

    def run() -> None:
        for q in queries:
            if index.search(q, 20) != expected[q]:
                errors.append(q)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_corpus_stats_of_shards_score_as_one_index(tmp_path, docs):
    """Two Whoosh indexes over halves of the paragraphs, scored with the sum of their
    statistics (``CorpusStats.combine``), give each paragraph the very score one index over
    all of them gives, phrases included; scored alone, a half ranks otherwise."""
    from newsearch.indexer.bm25 import CorpusStats

    write_index(tmp_path / "all", docs)
    write_index(tmp_path / "a", docs[::2])
    write_index(tmp_path / "b", docs[1::2])
    whole, a, b = (KeywordIndex(tmp_path / n) for n in ("all", "a", "b"))
    queries = [*sample_queries(docs, 40, seed=21), 'ceasefire "security guarantees" allies']
    differs = 0
    for q in queries:
        stats = CorpusStats.combine([a.stats(q), b.stats(q)])
        assert stats == whole.stats(q)
        merged = dict(a.search(q, 1000, stats)) | dict(b.search(q, 1000, stats))
        assert merged == dict(whole.search(q, 1000)), q
        assert a.ceiling(q, stats) == whole.ceiling(q)
        differs += dict(a.search(q, 1000)) != {p: merged[p] for p in dict(a.search(q, 1000))}
    assert differs > len(queries) // 2
