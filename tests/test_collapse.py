"""One hit per news story (search/collapse.py), on hand-made hits and a story-members mapping.

The end-to-end behaviour (a real index, the docstore as the member lookup) is in
test_results_page.py; here each documented rule is pinned on its own.
"""

from __future__ import annotations

import pytest

from newsearch.indexer.docstore import StoredArticle
from newsearch.search.collapse import MAX_ALSO_IN, choose_representative, collapse_stories
from newsearch.search.results import ArticleHit, ParagraphHit


def hit(
    aid: str,
    score: float,
    date: str = "",
    story: str = "",
    kw: float | None = 1.0,
    vec: float | None = 0.5,
    rank: int = 99,
) -> ArticleHit:
    para = ParagraphHit(
        pid=len(aid),
        position=0,
        text=f"text of {aid}",
        context="",
        score=score,
        keyword_score=kw,
        vector_score=vec,
    )
    return ArticleHit(
        rank=rank,
        article_id=aid,
        title=f"title of {aid}",
        score=score,
        paragraphs=[para],
        date=date,
        source=f"outlet of {aid}",
        story_id=story,
        story_note=f"note of {aid}",
    )


def stored(aid: str, date: str = "", story: str = "s") -> StoredArticle:
    return StoredArticle(
        id=aid,
        title=f"title of {aid}",
        source_path=f"/corpus/{aid}",
        date=date,
        source=f"outlet of {aid}",
        url=f"https://example.org/{aid}",
        category="world",
        paragraphs=3,
        story_id=story,
        story_note=f"note of {aid}",
    )


def test_the_best_score_wins_when_the_evidence_differs():
    best = hit("late", 0.9, "2026-05-01", kw=3.0)
    early = hit("early", 0.8, "2026-01-01", kw=2.0)
    assert choose_representative([early, best]) is best


def test_copies_with_equal_evidence_are_represented_by_the_earliest():
    """Exact copies score alike by BM25 and cosine; the fused score may still differ (a rank-
    based fusion breaks the tie by position), so the date decides, not the fused score."""
    repost = hit("repost", 0.9, "2026-03-20")
    first = hit("first", 0.8, "2026-03-19")
    late = hit("late", 0.7, "2026-03-21")
    assert choose_representative([repost, late, first]) is first


def test_evidence_within_a_millionth_counts_as_equal_and_beyond_it_does_not():
    a = hit("a", 0.9, "2026-03-20", kw=2.0, vec=0.5)
    b = hit("b", 0.8, "2026-03-19", kw=2.0 + 5e-7, vec=0.5 - 5e-7)
    assert choose_representative([a, b]) is b
    c = hit("c", 0.8, "2026-03-19", kw=2.0 + 1e-4, vec=0.5)
    assert choose_representative([a, c]) is a


def test_missing_scores_count_as_zero_evidence():
    dense_only = hit("dense", 0.9, "2026-03-20", kw=None, vec=0.7)
    zero_kw = hit("zero", 0.8, "2026-03-19", kw=0.0, vec=0.7)
    assert choose_representative([dense_only, zero_kw]) is zero_kw


def test_same_date_falls_back_to_the_smallest_id():
    b = hit("b", 0.9, "2026-03-19")
    a = hit("a", 0.8, "2026-03-19")
    c = hit("c", 0.7, "2026-03-19")
    assert choose_representative([b, c, a]) is a


def test_an_undated_copy_never_wins_on_date():
    undated = hit("aaa", 0.9, "")
    dated = hit("zzz", 0.8, "2099-12-31")
    assert choose_representative([undated, dated]) is dated
    # Among undated copies only the id is left to decide.
    assert choose_representative([hit("y", 0.9), hit("x", 0.8)]).article_id == "x"


def test_a_single_hit_represents_itself():
    only = hit("only", 0.1)
    assert choose_representative([only]) is only


def test_one_hit_per_story_in_score_order_with_ranks_renumbered():
    hits = [
        hit("s1-a", 0.9, "2026-01-02", story="s1", kw=3.0, rank=4),
        hit("alone", 0.85, "2026-01-01", rank=9),  # no story id: a story of its own
        hit("s2-a", 0.8, "2026-01-01", story="s2", kw=2.0, rank=1),
        hit("s1-b", 0.7, "2026-01-01", story="s1", kw=1.0, rank=2),
        hit("s2-b", 0.6, "2026-01-01", story="s2", kw=1.0, rank=3),
    ]
    out = collapse_stories(hits, {}, k=10)
    assert [h.article_id for h in out] == ["s1-a", "alone", "s2-a"]
    assert [h.rank for h in out] == [1, 2, 3]
    assert [[c.article_id for c in h.also_in] for h in out] == [["s1-b"], [], ["s2-b"]]
    assert [h.also_in_total for h in out] == [1, 0, 1]
    assert [h.article_id for h in collapse_stories(hits, {}, k=2)] == ["s1-a", "alone"]
    assert collapse_stories([], {}, k=5) == []


def test_the_page_is_ordered_by_the_scores_it_shows():
    """A story shown by its earliest copy shows that copy's score, which may be below another
    story's best: the page must still read best first."""
    hits = [
        hit("s1-repost", 0.90, "2026-03-20", story="s1"),
        hit("s2-only", 0.88, "2026-03-19", story="s2", kw=7.0),
        hit("s1-first", 0.85, "2026-03-19", story="s1"),
    ]
    out = collapse_stories(hits, {}, k=5)
    assert [(h.article_id, h.score) for h in out] == [("s2-only", 0.88), ("s1-first", 0.85)]
    assert [h.rank for h in out] == [1, 2]


def test_also_in_lists_retrieved_copies_by_score_then_the_others_by_date():
    hits = [
        hit("rep", 0.9, "2026-03-01", story="s", kw=5.0),
        hit("r-low", 0.5, "2026-03-03", story="s", kw=1.0),
        hit("r-high", 0.7, "2026-03-09", story="s", kw=2.0),
    ]
    members = {
        "s": [
            stored("rep", "2026-03-01"),
            stored("undated", ""),
            stored("m-late", "2026-03-08"),
            stored("r-low", "2026-03-03"),
            stored("m-early", "2026-03-02"),
            stored("r-high", "2026-03-09"),
        ]
    }
    (out,) = collapse_stories(hits, members, k=3)
    assert out.article_id == "rep"
    assert [(c.article_id, c.score) for c in out.also_in] == [
        ("r-high", 0.7),
        ("r-low", 0.5),
        ("m-early", None),
        ("m-late", None),
        ("undated", None),  # undated copies come last
    ]
    assert out.also_in_total == 5
    # A copy carries what the page shows of it, and why it is in the story.
    early = out.also_in[2]
    assert (early.title, early.date, early.source, early.url, early.category, early.note) == (
        "title of m-early",
        "2026-03-02",
        "outlet of m-early",
        "https://example.org/m-early",
        "world",
        "note of m-early",
    )


def test_a_retrieved_copy_missing_from_the_members_is_still_listed():
    hits = [hit("rep", 0.9, "2026-03-01", story="s"), hit("extra", 0.4, "2026-03-05", story="s")]
    (out,) = collapse_stories(hits, {"s": [stored("rep"), stored("old", "2026-01-01")]}, k=1)
    assert [(c.article_id, c.score) for c in out.also_in] == [("extra", 0.4), ("old", None)]
    assert out.also_in_total == 2  # the story's size says 1 other; 2 are listed


@pytest.mark.parametrize("size", [MAX_ALSO_IN, MAX_ALSO_IN + 1, MAX_ALSO_IN + 2, 100])
def test_also_in_is_capped_and_the_total_counts_every_other_article(size):
    dates = [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(size)]
    members = {"big": [stored(f"a{i:03d}", d, "big") for i, d in enumerate(dates)]}
    retrieved = [hit("a050", 0.9, dates[50], story="big")] if size > 50 else []
    hits = [hit("a000", 1.0, dates[0], story="big"), *retrieved]
    (out,) = collapse_stories(hits, members, k=1)
    assert out.article_id == "a000"
    assert out.also_in_total == size - 1
    assert len(out.also_in) == min(MAX_ALSO_IN, size - 1)
    expected = [f"a{i:03d}" for i in range(1, size) if i != 50 or not retrieved]
    expected = (["a050"] if retrieved else []) + expected
    assert [c.article_id for c in out.also_in] == expected[:MAX_ALSO_IN]


def test_the_representative_is_never_listed_in_its_own_also_in():
    hits = [hit("repost", 0.9, "2026-03-20", story="s"), hit("first", 0.8, "2026-03-19", story="s")]
    members = {"s": [stored("first", "2026-03-19"), stored("repost", "2026-03-20")]}
    (out,) = collapse_stories(hits, members, k=1)
    assert out.article_id == "first"
    assert [c.article_id for c in out.also_in] == ["repost"] and out.also_in_total == 1
