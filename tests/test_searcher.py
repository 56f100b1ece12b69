"""End to end on real indexes: the seed articles, the demo corpus, many threads, bad input."""

from __future__ import annotations

import threading

import pytest

from newsearch.indexer import IndexLayout
from newsearch.indexer.errors import IndexNotFoundError, ModelError, QueryError
from newsearch.indexer.ranked import Ranked
from newsearch.search import Fusion, Searcher

GUARANTEE_QUOTES = ("“greatly needed”", "“much needed”")
RESOURCES = "preferential access to Ukraine’s"


@pytest.fixture(scope="module")
def seeds(seeds_index, embedder):
    with Searcher(seeds_index, embedder=embedder) as s:
        yield s


def paragraphs(results):
    return [(h.article_id, p) for h in results.hits for p in h.paragraphs]


def test_security_guarantees_quotes_of_both_outlets_in_top_3(seeds):
    for mode in ("hybrid", "bm25", "dense"):
        results = seeds.search("security guarantees", k=2, mode=mode, collapse=False)
        assert len(results.hits) == 2, mode
        # Both seed articles, and in each the paragraph quoting the call comes first.
        for hit in results.hits:
            assert any(q in hit.best.text for q in GUARANTEE_QUOTES), (mode, hit.best.text)
        ranked = sorted(paragraphs(results), key=lambda ap: -ap[1].score)[:3]
        found = {a for a, p in ranked if any(q in p.text for q in GUARANTEE_QUOTES)}
        assert len(found) == 2, mode


def test_hybrid_hits_carry_both_ranks(seeds):
    rrf60 = Fusion("rrf", rrf_k=60)
    best = seeds.search("security guarantees", k=1, fusion=rrf60).hits[0].best
    assert best.keyword_rank is not None and best.vector_rank is not None
    assert best.keyword_score > 0 and 0 < best.vector_score <= 1
    assert best.score == pytest.approx(1 / (60 + best.keyword_rank) + 1 / (60 + best.vector_rank))


def test_fusion_is_chosen_per_query(seeds):
    query = "security guarantees"
    convex = seeds.search(query, k=2, fusion=Fusion("convex", alpha=0.5)).hits
    # min-max puts each list in [0, 1]: the best paragraph of both lists scores near 1.
    assert 0.5 < convex[0].score <= 1.0
    only_bm25 = seeds.search(query, k=2, fusion=Fusion("convex", alpha=0.0)).hits
    bm25 = seeds.search(query, k=2, mode="bm25").hits
    assert [h.best.pid for h in only_bm25] == [h.best.pid for h in bm25]
    rrf = seeds.search(query, k=2, fusion=Fusion("rrf", rrf_k=1)).hits
    assert rrf[0].score <= 1.0 and rrf[0].score > 1 / 3


def test_coverage_fusion_gets_the_bm25_coverage_of_each_query(seeds):
    """The default hybrid merge weighs BM25 by its best hit's score over the query's ceiling."""
    total = seeds.meta.paragraphs
    paraphrase = "allies promise to protect the country once the shooting stops"
    for query in ("security guarantees", paraphrase):
        kw, dense = seeds.keyword_search(query, total), seeds.dense_search(query, total)
        coverage = kw[0][1] / seeds.keyword.ceiling(query)
        expected = Fusion().fuse(kw, dense, coverage)
        best = seeds.search(query, k=1, collapse=False).hits[0].best
        assert (best.pid, best.score) == (expected[0][0], pytest.approx(expected[0][1]))
        convex = seeds.search(query, k=1, collapse=False, fusion=Fusion("convex")).hits[0].best
        if query == paraphrase:  # few of its words in any paragraph: BM25 weighed down
            assert coverage < Fusion().tau and best.score < convex.score - 0.1
        else:  # a keyword query BM25 covers: plain convex fusion
            assert coverage > Fusion().tau and best.score == pytest.approx(convex.score)


def test_candidates_are_the_single_searchers_lists_fused(seeds):
    """``candidates`` (BM25 on a worker thread beside the query encoder) ranks exactly as
    the two single searchers called one after the other and fused; the page's hits are its
    paragraphs, best first."""
    depth = 40
    for query in ("security guarantees", "allies promise to protect the country"):
        kw, dense = seeds.keyword_search(query, depth), seeds.dense_search(query, depth)
        expected = Fusion().fuse(kw, dense, kw[0][1] / seeds.keyword.ceiling(query))
        got = seeds.candidates(query, depth)
        assert isinstance(got, Ranked) and got == expected and len(got) > depth / 2
        assert seeds.candidates(query, depth, mode="bm25") == kw
        assert seeds.candidates(query, depth, mode="dense") == dense
        rrf = Fusion("rrf", rrf_k=60)
        assert seeds.candidates(query, depth, fusion=rrf) == rrf.fuse(kw, dense)
        page = seeds.search(query, k=3, collapse=False)
        best = {h.best.pid for h in page.hits}
        assert best <= set(seeds.candidates(query).ids.tolist())
    with pytest.raises(QueryError):
        seeds.candidates("security guarantees", mode="fuzzy")


def test_paraphrase_query_finds_the_resources_paragraph_by_meaning(seeds):
    """'minerals deal with Washington' shares no word with the first seed's paragraph on
    "preferential access to Ukraine's vital resources": only the dense side can find it.

    The issue asked for rank 1. With all-MiniLM-L6-v2 that is out of reach: the paragraph's
    best sentence scores cosine 0.23 while "Macron and Starmer are set to visit Washington"
    scores 0.32 (the word Washington). What holds, and is checked here: it is a top-5
    paragraph in dense mode, and hybrid shows a resources paragraph among its top hits.
    """
    query = "minerals deal with Washington"
    dense = seeds.dense_search(query, 5)
    texts = seeds.docstore.paragraphs(pid for pid, _ in dense)
    assert any(RESOURCES in texts[pid].text for pid, _ in dense)
    hybrid = seeds.search(query, k=2, mode="hybrid", collapse=False)
    assert any(RESOURCES in p.text for _, p in paragraphs(hybrid))


def test_modes_differ_and_bm25_needs_no_model(seeds_index):
    with Searcher(seeds_index, model_path="/nonexistent/model") as s:
        # bm25 never touches the model, so a bad --model only matters for dense/hybrid.
        assert s.search("security guarantees", mode="bm25").hits
        with pytest.raises(ModelError):
            s.search("security guarantees", mode="dense")


def test_results_are_grouped_per_article(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        results = s.search("strike", k=10)
    ids = [h.article_id for h in results.hits]
    assert len(ids) == len(set(ids))
    assert [h.rank for h in results.hits] == list(range(1, len(ids) + 1))
    assert [h.score for h in results.hits] == sorted((h.score for h in results.hits), reverse=True)
    for h in results.hits:
        assert 1 <= len(h.paragraphs) <= 2 and h.score == h.paragraphs[0].score
        assert h.title and h.category


def test_demo_corpus_answers_news_questions(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        top = s.search("security guarantees", k=1).hits[0]
        assert "valdoria" in top.article_id
        strike = s.search("rail workers walk out at the port", k=2, collapse=False).hits
        strike = [h.article_id for h in strike]
        assert all("harbour-rail-strike" in a for a in strike)
        football = "who won the football final"
        # BM25 alone prefers the cycling race's "final stage" (it says "won" and "final"); the
        # dense side knows football. RRF puts the cup final first; the tuned convex fusion has
        # the two nearly tied (0.830 vs 0.829 on this corpus), so it must be in the top two.
        assert "cup-final" in s.search(football, k=1, fusion=Fusion("rrf")).hits[0].article_id
        assert any("cup-final" in h.article_id for h in s.search(football, k=2).hits)


def test_many_threads_get_the_same_answers(seeds_index, embedder):
    searcher = Searcher(seeds_index, embedder=embedder)
    queries = ["security guarantees", "NATO membership", "drones overnight", "Kremlin spokesman"]
    expected = {q: [h.article_id for h in searcher.search(q, k=2).hits] for q in queries}
    errors: list[BaseException] = []
    seen: list[tuple[str, list[str]]] = []

    def worker(offset: int) -> None:
        try:
            for i in range(12):
                q = queries[(i + offset) % len(queries)]
                mode = ("hybrid", "bm25", "dense")[i % 3]
                r = searcher.search(q, k=2, mode=mode)
                if mode == "hybrid":
                    seen.append((q, [h.article_id for h in r.hits]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) == 8 * 4
    assert all(expected[q] == got for q, got in seen)


@pytest.mark.parametrize("query", ["", "   ", "\x00\t\n"])
def test_empty_query_is_a_query_error(seeds, query):
    with pytest.raises(QueryError, match="empty"):
        seeds.search(query)


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(seeds, k):
    with pytest.raises(QueryError):
        seeds.search("nato", k=k)


def test_bad_mode(seeds):
    with pytest.raises(QueryError, match="mode"):
        seeds.search("nato", mode="fuzzy")


def test_huge_k_and_stopword_queries(seeds):
    assert len(seeds.search("Zelensky", k=10**6, collapse=False).hits) == 2
    assert seeds.search("the of and", mode="bm25").hits == []
    assert seeds.search("the of and", mode="hybrid").hits  # dense still answers


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="no index"):
        Searcher(tmp_path / "nowhere")
    with pytest.raises(IndexNotFoundError, match="holds no newsearch index"):
        Searcher(tmp_path)


def test_index_records_model_and_counts(seeds_index, model):
    layout = IndexLayout(seeds_index)
    meta = layout.read_meta(layout.current())
    assert meta.model.sha256 == model.sha256 and meta.model.dim == 384
    assert meta.articles == 2 and meta.paragraphs == meta.vectors > 30
