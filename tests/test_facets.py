"""``search/facets.py`` through ``Searcher.search(facets=True)`` and ``Searcher.facets``, on
a real index (the real model, Whoosh and FAISS on disk): counts over every matching story,
checked against a brute-force count that reads every paragraph of the index."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import DEMO, run_cli, write

from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.errors import QueryError
from newsearch.search import SearchConfig, Searcher
from newsearch.search.facets import Facets, month_of
from newsearch.search.filters import Filter
from newsearch.search.results import SCHEMA
from newsearch.search.snippets import find_matches, query_stems

HARBOUR = (
    "Dock workers at the port of Lindholm walked out on Monday over pay, halting container "
    "traffic for the second time this spring."
)
WIRE = [
    # One story in two outlets (identical text): counted once, under both sources.
    {"id": "wire-1", "title": "Lindholm dock strike halts port", "text": HARBOUR,
     "source": "Coastal Wire", "category": "business", "date": "2026-05-04"},
    {"id": "wire-2", "title": "Lindholm dock strike halts port", "text": HARBOUR,
     "source": "Harbour Times", "category": "business", "date": "2026-05-05"},
    {"id": "wire-3", "title": "Lindholm ferry timetable changes",
     "text": "The ferry from Lindholm to the islands sails an hour earlier from June.",
     "source": "COASTAL WIRE", "category": "Travel", "date": "2026-04-28"},
    {"id": "wire-4", "title": "Undated note on Lindholm port fees",
     "text": "Port fees at Lindholm rise by three percent for cargo ships.",
     "source": "Harbour Times", "category": "business"},
]  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("facets")
    corpus = root / "corpus"
    import shutil

    shutil.copytree(DEMO, corpus, ignore=shutil.ignore_patterns("README*"))
    write(corpus / "wire" / "wire.jsonl", "\n".join(json.dumps(a) for a in WIRE) + "\n")
    build_index([corpus], root / "index", BuildOptions(), embedder=embedder)
    return root / "index"


@pytest.fixture(scope="module")
def searcher(index, embedder):
    with Searcher(index, embedder=embedder) as s:
        yield s


def brute_force(searcher: Searcher, query: str, filters: Filter, collapse: bool) -> Facets:
    """Every paragraph of the index read, and kept when a query word occurs in it or in its
    headline (what BM25F matches): the facets of bm25 mode, counted without the searcher."""
    store = searcher.docstore
    paragraphs = store.paragraphs(store.paragraph_ids())  # type: ignore[attr-defined]
    articles = store.articles({p.article_id for p in paragraphs.values()})
    stems = query_stems(query)
    keys: set[str] = set()
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for p in paragraphs.values():
        a = articles[p.article_id]
        text = f"{p.context} {p.text}" if p.context else p.text
        if not (find_matches(text, stems) or find_matches(a.title, stems)):
            continue
        if not filters.accepts(a):
            continue
        key = (a.story_id or a.id) if collapse else a.id
        keys.add(key)
        for name, value in (("category", a.category), ("source", a.source)):
            if value.strip():
                values[name][value.strip().casefold()].add(key)
        if month_of(a.date):
            values["month"][month_of(a.date)].add(key)
    return Facets(
        total=len(keys),
        **{
            name: sorted((v, len(ks)) for v, ks in values[name].items())
            for name in ("category", "source", "month")
        },
    )


def as_pairs(facets: Facets) -> dict[str, list[tuple[str, int]]]:
    return {
        name: sorted((v.value.casefold(), v.count) for v in getattr(facets, name))
        for name in ("category", "source", "month")
    }


@pytest.mark.parametrize(
    "query",
    ["Lindholm port", "security guarantees ceasefire", "government minister", "rain"],
)
@pytest.mark.parametrize("collapse", [True, False])
def test_bm25_facets_equal_a_brute_force_count_over_every_paragraph(searcher, query, collapse):
    got = searcher.search(query, k=3, mode="bm25", collapse=collapse, facets=True).facets
    want = brute_force(searcher, query, Filter(), collapse)
    assert got is not None and got.words_complete and got.depth == 0
    assert got.total == want.total > 0
    assert as_pairs(got) == {
        "category": want.category,
        "source": want.source,
        "month": want.month,
    }


def test_a_count_is_how_many_stories_that_filter_value_keeps(searcher):
    """In bm25 mode every word match is counted, so choosing a value returns that many."""
    facets = searcher.facets("Lindholm port strike", "bm25")
    assert facets.category and facets.source
    for name in ("category", "source"):
        for v in getattr(facets, name):
            chosen = Filter.make(**{name: v.value})
            results = searcher.search("Lindholm port strike", k=1000, mode="bm25", filters=chosen)
            assert len(results.hits) == v.count, (name, v)


def test_one_story_in_two_outlets_counts_once_under_each(searcher):
    stored = searcher.docstore.articles(["wire-1", "wire-2"])
    assert stored["wire-1"].story_id == stored["wire-2"].story_id  # one story
    facets = searcher.facets("Lindholm dock strike", "bm25")
    sources = {v.value.casefold(): v.count for v in facets.source}
    # The story once under each outlet; wire-3 (COASTAL WIRE, spelled otherwise) and wire-4
    # are stories of their own.
    assert sources == {"coastal wire": 2, "harbour times": 2}
    assert sum(sources.values()) == 4 > 3  # 3 stories carry a source: values overlap
    only = searcher.search(
        "Lindholm dock strike", k=50, mode="bm25", filters=Filter.make(source="harbour times")
    )
    assert len(only.hits) == 2
    assert "2026-04" in {v.value for v in facets.month}  # wire-3; wire-4 has no month


def test_facets_do_not_depend_on_the_page(searcher):
    whole = [
        searcher.search("port workers strike", k=k, offset=o, mode=m, facets=True).facets
        for m in ("hybrid", "dense")
        for k, o in ((1, 0), (10, 0), (5, 20))
    ]
    assert whole[0] == whole[1] == whole[2] and whole[3] == whole[4] == whole[5]
    assert searcher.facets("port workers strike", "hybrid") == whole[0]


def test_filters_apply_to_the_counts(searcher):
    f = Filter.make(category="business")
    facets = searcher.facets("port workers strike", "hybrid", filters=f)
    assert [v.value.casefold() for v in facets.category] == ["business"]
    assert facets == brute_force_dense_all(searcher, f)


def brute_force_dense_all(searcher: Searcher, filters: Filter) -> Facets:
    """The demo index has fewer paragraphs than the candidate depth: by meaning, every
    paragraph is among the nearest, so every story passing the filters matches."""
    store = searcher.docstore
    paragraphs = store.paragraphs(store.paragraph_ids())  # type: ignore[attr-defined]
    return_ids = list(paragraphs)
    from newsearch.search.facets import count_facets

    got = count_facets(store, return_ids, filters, True, depth=searcher.meta.paragraphs)
    articles = store.articles({p.article_id for p in paragraphs.values()})
    stories = {a.story_id or a.id for a in articles.values() if filters.accepts(a)}
    assert got.total == len(stories)
    return got


def test_dense_facets_count_the_nearest_paragraphs(index, embedder):
    """With a candidate depth of 5, the stories counted are those of the 5 nearest
    paragraphs: the first articles of the dense ranking, and no other."""
    with Searcher(index, config=SearchConfig(candidates=5), embedder=embedder) as s:
        facets = s.facets("harbour strike", "dense", collapse=False)
        assert facets.depth == 5 and 1 <= facets.total <= 5
        nearest = {pid for pid, _ in s.dense_search("harbour strike", 5)}
        articles = {p.article_id for p in s.docstore.paragraphs(nearest).values()}
        assert facets.total == len(articles)
        ranked = s.search("harbour strike", k=facets.total, mode="dense", collapse=False)
        assert {h.article_id for h in ranked.hits} == articles
        counts: dict[str, int] = defaultdict(int)
        for h in ranked.hits:
            counts[h.category.casefold()] += 1
        assert {v.value.casefold(): v.count for v in facets.category} == counts


def test_json_has_facets_only_when_asked(searcher):
    plain = searcher.search("ceasefire", k=2).to_dict()
    assert plain["schema"] == SCHEMA == "newsearch.results/1.1"
    assert plain["facets"] is None
    data = json.loads(json.dumps(searcher.search("ceasefire", k=2, facets=True).to_dict()))
    facets = data["facets"]
    assert set(facets) == {"total", "category", "source", "month", "depth", "words_complete"}
    assert facets["total"] >= len(data["hits"])
    assert all(set(v) == {"value", "count"} for v in facets["category"])
    counts = [v["count"] for v in facets["category"]]
    assert counts == sorted(counts, reverse=True)


def test_bad_mode_is_a_query_error(searcher):
    with pytest.raises(QueryError, match="unknown mode"):
        searcher.facets("ceasefire", "fuzzy")


def test_cli_prints_facets_and_puts_them_in_the_json(index, searcher):
    cli = run_cli
    shown = cli("query", "Lindholm dock strike", "-i", index, "--mode", "bm25", "--facets")
    assert shown.returncode == 0, shown.stderr
    facets = searcher.facets("Lindholm dock strike", "bm25")
    assert f"facets ({facets.total} matching)" in shown.stdout
    assert re.search(r"source\s+Coastal Wire 2, Harbour Times 2", shown.stdout)
    assert re.search(r"month\s+2026-05 \d+", shown.stdout)
    data = json.loads(
        cli(
            "query", "Lindholm dock strike", "-i", index, "--mode", "bm25", "--facets", "--json"
        ).stdout
    )
    assert data["facets"]["total"] == facets.total
    assert data["facets"]["source"] == [{"value": "Coastal Wire", "count": 2},
                                        {"value": "Harbour Times", "count": 2}]  # fmt: skip
    plain = json.loads(cli("query", "Lindholm", "-i", index, "--json").stdout)
    assert plain["facets"] is None and "facets" not in cli("query", "Lindholm", "-i", index).stdout
