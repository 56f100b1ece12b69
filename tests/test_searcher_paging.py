"""``Searcher.search(offset=...)``: pages of one generation are slices of one sequence, also
when filters and story collapsing make the search dig deeper between pages."""

from __future__ import annotations

import pytest

from newsearch.indexer.errors import QueryError
from newsearch.search import SearchConfig, Searcher
from newsearch.search.filters import Filter


@pytest.fixture(scope="module")
def demo(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        yield s


@pytest.fixture(scope="module")
def shallow(demo_index, embedder):
    """Five candidates per searcher: every page past the first digs deeper."""
    with Searcher(demo_index, config=SearchConfig(candidates=5), embedder=embedder) as s:
        yield s


def keys(results, collapse=True):
    return [h.story_id if collapse else h.article_id for h in results.hits]


def pages(searcher, query, k, n, **kw):
    out = []
    for offset in range(0, n, k):
        page = searcher.search(query, k=k, offset=offset, **kw)
        assert page.offset == offset
        assert [h.rank for h in page.hits] == list(range(offset + 1, offset + 1 + len(page.hits)))
        out += keys(page, kw.get("collapse", True))
    return out


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
@pytest.mark.parametrize("collapse", [True, False])
def test_pages_are_slices_of_one_sequence(demo, mode, collapse):
    paged = pages(demo, "government minister talks", 4, 24, mode=mode, collapse=collapse)
    assert len(paged) == len(set(paged))
    whole = demo.search("government minister talks", k=24, mode=mode, collapse=collapse)
    assert paged == keys(whole, collapse)


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_pages_stay_consistent_while_digging_deeper(shallow, mode):
    f = Filter.make(category=["sport", "health", "science"])
    paged = pages(shallow, "said officials", 2, 12, mode=mode, filters=f)
    assert len(paged) == len(set(paged)) and len(paged) == 12
    again = pages(shallow, "said officials", 2, 12, mode=mode, filters=f)
    assert again == paged
    # Pages are slices of the sequence that a search of their k starts: the first page is
    # the search itself, and a later page is the tail of a longer search of the same k.
    assert keys(shallow.search("said officials", k=2, mode=mode, filters=f)) == paged[:2]
    hits = shallow.search("said officials", k=2, offset=10, mode=mode, filters=f).hits
    assert {h.category for h in hits} <= {"sport", "health", "science"}


def test_total_estimate_is_exact_on_a_short_last_page(demo):
    results = demo.search("ceasefire", k=50, mode="bm25")
    assert 0 < len(results.hits) < 50
    assert results.total_estimate == len(results.hits)
    first = demo.search("ceasefire", k=1, mode="bm25")
    assert first.total_estimate >= 1
    past = demo.search("ceasefire", k=5, mode="bm25", offset=len(results.hits))
    assert past.hits == [] and past.total_estimate == len(results.hits)


@pytest.mark.parametrize(("offset", "k"), [(-1, 10), (995, 10), (1.5, 10), (0, 1001)])
def test_bad_offsets(demo, offset, k):
    if k > 1000 and offset == 0:  # k is capped at 1000, as before
        assert demo.search("ceasefire", k=k, mode="bm25").k == 1000
        return
    with pytest.raises(QueryError, match="offset"):
        demo.search("ceasefire", k=k, offset=offset, mode="bm25")
