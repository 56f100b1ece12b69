"""Long queries on a real Whoosh index (indexer/keyword.py): an argument or an article pasted as
the query is a bag of words, weighted by how often it uses each word, never phrase-matched."""

from __future__ import annotations

import pytest
from whoosh.reading import SegmentReader

from newsearch.indexer.keyword import (
    LONG_QUERY_WORDS,
    MAX_PHRASE_WORDS,
    KeywordDoc,
    KeywordIndex,
    write_index,
)
from newsearch.search import Fusion, Searcher

DOCS = [
    KeywordDoc(1, "tax", "Parliament debated the tax reform plan on Tuesday.", "Reform"),
    KeywordDoc(2, "school", "Parliament debated the school reform plan on Tuesday.", "Reform"),
    KeywordDoc(3, "quote", "The minister said the budget was fair and balanced.", "Budget row"),
    KeywordDoc(4, "other", "The budget was balanced, fair said the minister.", "Budget row"),
    KeywordDoc(5, "far", "Farmers marched on the capital over fuel prices.", "Protest"),
]
#: Words no paragraph holds: they make a query long without matching anything.
FILLER = " ".join(f"zq{i}x" for i in range(LONG_QUERY_WORDS + 5))


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("kw_long")
    write_index(d, DOCS)
    return KeywordIndex(d)


def test_a_long_query_weighs_a_word_by_how_often_it_uses_it(index):
    """Paragraphs 1 and 2 are alike but for "tax" / "school": an argument that says "school"
    five times and "tax" once is about schools. A short query counts each word once."""
    long_query = f"school {FILLER} school tax school school school"
    assert index.is_long(long_query)
    assert index.query_weights(long_query)["school"] == 5
    assert index.query_weights(long_query)["tax"] == 1
    assert index.query_terms(long_query).count("school") == 5
    hits = dict(index.search(long_query, 10))
    assert max(hits, key=hits.get) == 2
    # A repeat adds the word's whole contribution again (Lucene: a clause per occurrence).
    tax_once = dict(index.search(f"tax {FILLER}", 10))[1]
    school_once = dict(index.search(f"school {FILLER}", 10))[2]
    assert hits[2] == pytest.approx(5 * school_once) and tax_once == pytest.approx(school_once)

    short = "school school tax"
    assert not index.is_long(short) and index.query_weights(short) == {"school": 1, "tax": 1}
    tie = dict(index.search(short, 10))
    assert tie[1] == pytest.approx(tie[2])


def test_the_numpy_scorer_and_whoosh_agree_on_weighted_long_queries(index):
    query = f"school {FILLER} school tax budget budget minister fuel school"
    numpy_hits = index.search(query, 10)
    whoosh_hits = index.search_whoosh(query, 10)
    assert [p for p, _ in numpy_hits] == [p for p, _ in whoosh_hits]
    assert [s for _, s in numpy_hits] == pytest.approx([s for _, s in whoosh_hits])


def test_quotes_in_a_long_query_are_speech_not_phrases(index):
    """Paragraphs 3 and 4 hold the same words; only 3 holds them in the quoted order."""
    quote = '"the budget was fair and balanced"'
    short = dict(index.search(f"minister said {quote}", 10))
    assert index.phrase_clauses(f"minister said {quote}")
    assert short[3] > short[4] + 1.0  # the phrase matched
    long_query = f"minister said {quote} {FILLER}"
    assert index.phrase_clauses(long_query) == []
    scored = dict(index.search(long_query, 10))
    unquoted = dict(index.search(long_query.replace('"', " "), 10))
    assert scored == pytest.approx(unquoted)


def test_a_quoted_span_longer_than_a_phrase_is_searched_as_words(index):
    long_quote = '"' + " ".join(["budget minister balanced fair"] * 3) + '"'
    assert len(index._words(long_quote)) > MAX_PHRASE_WORDS
    assert not index.is_long(long_quote)
    assert index.phrase_clauses(long_quote) == []
    assert index.phrase_clauses('"fair and balanced"')  # 2 words: a phrase


def test_a_long_query_reads_whoosh_once_per_distinct_word_however_often_repeated(
    tmp_path, monkeypatch
):
    """What a long query costs in Whoosh (postings opened) follows its distinct words, not its
    length: the same words repeated twenty times open exactly as many postings. Counted on
    Whoosh's own reader, every call passed through."""
    opened: list[tuple[str, str]] = []
    real = SegmentReader.postings

    def counting(self, fieldname, text, *args, **kwargs):
        opened.append((fieldname, text))
        return real(self, fieldname, text, *args, **kwargs)

    monkeypatch.setattr(SegmentReader, "postings", counting)
    write_index(tmp_path, DOCS)
    words = "parliament debated school reform budget minister fuel prices farmers capital"
    counts = []
    for repeat in (4, 80):
        text = " ".join([words] * repeat)
        index = KeywordIndex(tmp_path)  # a fresh reader and postings cache per run
        opened.clear()
        hits = index.search(text, 10)
        assert hits and index.is_long(text)
        counts.append(len(opened))
        distinct = len(index.query_weights(text))
        assert len(index.query_terms(text)) == repeat * distinct
        assert len(set(opened)) <= 2 * distinct  # body and headline, no phrase matchers
    assert counts[0] == counts[1]


def test_a_long_query_has_no_ceiling_and_a_short_one_keeps_its_own(index):
    """Coverage (best score / ceiling) measures a short query; a long one's sum of every word
    at saturation is out of any paragraph's reach, so it gets no ceiling (convex fusion)."""
    short = "school reform plan"
    assert index.max_score(short) > 0
    assert index.ceiling(short) == pytest.approx(index.max_score(short))
    long_query = f"school {FILLER} school tax"
    assert index.ceiling(long_query) is None
    # max_score counts each word by its weight: "school" twice weighs twice.
    once, twice = index.max_score(f"school {FILLER}"), index.max_score(f"school {FILLER} school")
    assert twice == pytest.approx(2 * once)
    assert all(s <= index.max_score(long_query) for _, s in index.search(long_query, 10))


def test_a_long_query_is_fused_without_coverage_on_the_real_engine(seeds_index, embedder):
    """The searcher gets no ceiling for a long query and fuses it by plain convex fusion,
    not by a coverage that would hand it to the dense half alone."""
    argument = (
        "Security guarantees for Ukraine must come before any ceasefire, because a ceasefire "
        "without guarantees only gives the aggressor time to rearm. Allies have promised "
        "support before, and those promises were not kept; this time the guarantees should be "
        "written into a treaty, ratified by parliaments, with troops and air defence behind "
        "them, so that the country can rebuild its economy, its energy grid and its schools."
    )
    with Searcher(seeds_index, embedder=embedder) as s:
        assert s.keyword.ceiling(argument) is None
        total = s.meta.paragraphs
        kw, dense = s.keyword_search(argument, total), s.dense_search(argument, total)
        expected = Fusion("convex").fuse(kw, dense)
        best = s.search(argument, k=1, collapse=False).hits[0].best
        assert (best.pid, best.score) == (expected[0][0], pytest.approx(expected[0][1]))
        coverage = kw[0][1] / s.keyword.max_score(argument)
        assert coverage < Fusion().tau  # what coverage fusion would have made of it
