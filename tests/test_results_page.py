"""The result page on real indexes: one hit per story, snippets, filters, the JSON contract."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from conftest import DEMO, REPO, write
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.errors import QueryError
from newsearch.search import Searcher
from newsearch.search.collapse import MAX_ALSO_IN, collapse_stories
from newsearch.search.filters import Filter
from newsearch.search.results import ArticleHit, ParagraphHit, SearchResults, StoryCopy
from newsearch.search.snippets import Match, Snippet

HARBOUR = "business/2026-05-02-harbour-rail-strike-"


@pytest.fixture(scope="module")
def seeds(seeds_index, embedder):
    with Searcher(seeds_index, embedder=embedder) as s:
        yield s


@pytest.fixture(scope="module")
def demo(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        yield s


def test_seed_story_is_one_hit_naming_the_other_outlet(seeds):
    results = seeds.search("security guarantees", k=10)
    assert len(results.hits) == 1
    hit = results.hits[0]
    assert len(hit.also_in) == 1
    ids = {hit.article_id, hit.also_in[0].article_id}
    assert ids == {"000_3a0db134eaffab2c.txt", "002_7b18e98d13cef019.txt"}
    assert hit.also_in[0].score is not None and hit.also_in[0].score <= hit.score
    assert hit.story_note.startswith("rewrite:") and hit.also_in[0].note.startswith("rewrite:")

    both = seeds.search("security guarantees", k=10, collapse=False)
    assert {h.article_id for h in both.hits} == ids
    assert all(h.also_in == [] for h in both.hits)
    assert both.hits[0].story_id == both.hits[1].story_id


def test_collapsed_demo_page_has_one_hit_per_story_and_fills_k(demo):
    collapsed = demo.search("rail workers walk out at the port", k=5)
    assert len(collapsed.hits) == 5
    stories = [h.story_id for h in collapsed.hits]
    assert len(set(stories)) == 5
    harbour = [h for h in collapsed.hits if h.article_id.startswith(HARBOUR)]
    assert len(harbour) == 1 and harbour[0].also_in[0].article_id.startswith(HARBOUR)
    assert [h.rank for h in collapsed.hits] == [1, 2, 3, 4, 5]
    assert [h.score for h in collapsed.hits] == sorted(
        (h.score for h in collapsed.hits), reverse=True
    )


def test_snippets_mark_stemmed_words_in_their_original_form(demo):
    hit = demo.search("strikes walking", k=1, mode="bm25", collapse=False).hits[0]
    marked: list[str] = []
    for p in hit.paragraphs:
        words = [p.snippet.text[m.start : m.end] for m in p.snippet.matches]
        assert words, p.snippet.text
        assert all(w.lower().startswith(("strik", "walk")) for w in words), words
        marked += words
    # Forms the query did not spell ("strike", "walked") are marked, as the article wrote them.
    assert {w.lower() for w in marked} - {"strikes", "walking"}


def test_dense_only_hits_still_show_their_paragraph(demo):
    hit = demo.search("zzzqx", k=1, mode="dense").hits[0]
    snippet = hit.best.snippet
    assert snippet is not None and snippet.text
    assert snippet.matches == []  # semantic marks are asked for (issue 15: they cost time)
    # No word to mark: the sentence nearest by meaning is marked instead (issue 17).
    marked = demo.search("zzzqx", k=1, mode="dense", highlights=True).hits[0].best.snippet
    assert marked is not None and marked.text == snippet.text
    assert [m.kind for m in marked.matches] == ["semantic"]


def _demo_dates() -> dict[str, str]:
    return {
        p.relative_to(DEMO).as_posix(): re.match(r"\d{4}-\d{2}-\d{2}", p.name).group(0)
        for p in DEMO.rglob("*.txt")
    }


def test_category_filter_applies_before_the_cut(demo):
    """The query is about a war; asked for sport, the page still fills k with sport."""
    sport = sum(1 for a in _demo_dates() if a.startswith("sport/"))
    results = demo.search("security guarantees", k=sport, filters=Filter.make(category="Sport"))
    assert len(results.hits) == sport
    assert {h.category for h in results.hits} == {"sport"}


def test_date_filters_are_inclusive(demo):
    since, until = "2026-05-02", "2026-09-05"
    inside = {a for a, d in _demo_dates().items() if since <= d <= until}
    f = Filter.make(since=since, until=until)
    results = demo.search("strike", k=50, filters=f, collapse=False)
    assert {h.article_id for h in results.hits} == inside  # dense reaches every paragraph
    only_may = demo.search("strike", k=50, filters=Filter.make(since="2026-05", until="2026-05"))
    assert only_may.hits and all(h.date.startswith("2026-05") for h in only_may.hits)


def test_bad_date_filter_is_a_query_error():
    with pytest.raises(QueryError, match="since"):
        Filter.make(since="last week")
    with pytest.raises(QueryError, match="before"):
        Filter.make(since="2026-05-01", until="2026-04-30")


@pytest.fixture(scope="module")
def jsonl_searcher(tmp_path_factory, embedder):
    """JSONL records carry source, url, date and category of their own."""
    root = tmp_path_factory.mktemp("jsonl")
    records = [
        {"id": "h1", "title": "Port strike halts freight", "source": "Coastal Herald",
         "date": "2026-05-02", "url": "https://herald.example/strike", "category": "business",
         "text": "Dock workers walked out at the harbour on Saturday, halting freight trains."},
        {"id": "l1", "title": "Dockers strike at harbour", "source": "Daily Ledger",
         "date": "2026-05-03", "url": "https://ledger.example/strike", "category": "business",
         "text": "A strike by dock workers stopped all rail freight at the harbour yesterday."},
        {"id": "l2", "title": "Council approves new bridge", "source": "Daily Ledger",
         "date": "2026-06-10", "url": "https://ledger.example/bridge", "category": "local",
         "text": "The council voted to build a second bridge across the river next year."},
    ]  # fmt: skip
    write(root / "news.jsonl", "\n".join(json.dumps(r) for r in records))
    build_index([root], root / "ix", BuildOptions(), embedder=embedder)
    with Searcher(root / "ix", embedder=embedder) as s:
        yield s


def test_source_filter(jsonl_searcher):
    f = Filter.make(source=["daily ledger"])
    results = jsonl_searcher.search("strike", k=3, filters=f, collapse=False)
    assert [h.article_id for h in results.hits][:1] == ["l1"]
    assert {h.source for h in results.hits} == {"Daily Ledger"} and len(results.hits) == 2
    herald = jsonl_searcher.search("strike", k=3, filters=Filter.make(source="Coastal Herald"))
    assert [(h.article_id, h.url) for h in herald.hits] == [("h1", "https://herald.example/strike")]
    none = jsonl_searcher.search("strike", k=3, filters=Filter.make(source="Nobody"))
    assert none.hits == []


def _shape(value):
    """The structure of a JSON value: dict keys and the shape of a list's first item."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], (dict, list)) else []
    return None


def documented_schema() -> dict:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## JSON output", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S).group(1)
    return json.loads(block)


def test_json_output_matches_the_documented_schema(seeds):
    data = json.loads(json.dumps(seeds.search("security guarantees", k=3).to_dict()))
    assert _shape(data) == _shape(documented_schema())
    assert data["schema"] == "newsearch.results/1.1"
    hit = data["hits"][0]
    for p in hit["paragraphs"]:
        for m in p["snippet"]["matches"]:
            shown = p["snippet"]["text"][m["start"] : m["end"]]
            if m["kind"] == "word":
                assert shown.lower().startswith(("secur", "guarant"))
            else:  # a paragraph without the words: its sentence nearest by meaning
                assert m["kind"] == "semantic" and len(shown.split()) > 1


def test_result_dataclasses_mirror_the_documented_schema():
    doc = documented_schema()
    hit, para = doc["hits"][0], doc["hits"][0]["paragraphs"][0]

    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    assert set(doc) == names(SearchResults) | {"schema"}
    assert set(hit) == names(ArticleHit)
    assert set(para) == names(ParagraphHit)
    assert set(para["snippet"]) == names(Snippet)
    assert set(para["snippet"]["matches"][0]) == names(Match)
    assert set(hit["also_in"][0]) == names(StoryCopy)
    assert set(doc["filters"]) == names(Filter)


def test_exact_copies_collapse_to_the_earliest(tmp_path, embedder):
    """Copies score alike; the story is shown by the first outlet that ran it."""
    original = (DEMO / "business" / "2026-03-19-central-bank-holds-interest-rates.txt").read_text(
        encoding="utf-8"
    )
    write(tmp_path / "c" / "2026-03-20-repost.txt", original)
    write(tmp_path / "c" / "2026-03-19-first.txt", original)
    write(tmp_path / "c" / "2026-03-21-late.txt", original)
    write(tmp_path / "c" / "2026-03-19-other.txt", SEPARATE)
    build_index([tmp_path / "c"], tmp_path / "ix", BuildOptions(), embedder=embedder)
    with Searcher(tmp_path / "ix", embedder=embedder) as s:
        for mode in ("hybrid", "bm25", "dense"):
            hits = s.search("interest rates inflation", k=5, mode=mode).hits
            assert hits[0].article_id == "2026-03-19-first.txt", mode
            assert [c.article_id for c in hits[0].also_in] == [
                "2026-03-20-repost.txt",
                "2026-03-21-late.txt",
            ]
            # bm25 finds none of the query's words in the unrelated article; the others do.
            others = [] if mode == "bm25" else ["2026-03-19-other.txt"]
            assert [h.article_id for h in hits[1:]] == others


def test_a_big_story_lists_max_also_in_copies_and_counts_the_rest(tmp_path, embedder):
    """30 re-posts of one report: one hit, the retrieved copies first then the earliest, at
    most MAX_ALSO_IN of them, and the story's size; the same as the full member list cut."""
    original = (DEMO / "business" / "2026-03-19-central-bank-holds-interest-rates.txt").read_text(
        encoding="utf-8"
    )
    for day in range(1, 31):
        write(tmp_path / "c" / f"2026-04-{day:02d}-repost.txt", original)
    write(tmp_path / "c" / "2026-03-19-other.txt", SEPARATE)
    build_index([tmp_path / "c"], tmp_path / "ix", BuildOptions(), embedder=embedder)
    with Searcher(tmp_path / "ix", embedder=embedder) as s:
        page = s.search("interest rates inflation", k=2, mode="bm25")
        hit = page.hits[0]
        assert hit.article_id == "2026-04-01-repost.txt"
        assert len(hit.also_in) == MAX_ALSO_IN and hit.also_in_total == 29
        assert [c.article_id for c in hit.also_in] == [
            f"2026-04-{day:02d}-repost.txt" for day in range(2, 2 + MAX_ALSO_IN)
        ]
        full = collapse_stories(
            s.search("interest rates inflation", k=40, mode="bm25", collapse=False).hits,
            s.docstore.story_members([hit.story_id]),
            k=1,
        )[0]
        assert full.also_in[:MAX_ALSO_IN] == hit.also_in and full.also_in_total == 29
    result = CliRunner().invoke(app, ["query", "interest rates", "-i", str(tmp_path / "ix")])
    assert result.exit_code == 0 and "(+9 more)" in result.output


SEPARATE = """Council approves second river bridge

The city council voted on Tuesday to build a second bridge across the river, ending a decade
of debate over traffic in the old town. Construction is due to start next spring.
"""
