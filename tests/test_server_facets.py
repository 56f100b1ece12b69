"""Issue 17 over HTTP: facets in ``/search`` and beside the page's filters, semantic marks on
the page, paging limits. A real ``newsearch serve`` (uvicorn on a loopback port) over a real
index of the demo and hostile articles."""

from __future__ import annotations

import html as htmlmod
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from serving import Server, hostile_corpus, serving

from newsearch.indexer import BuildOptions, build_index


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("serve_facets")
    corpus = hostile_corpus(root / "corpus")
    build_index([corpus], root / "index", BuildOptions(), embedder=embedder)
    return root / "index"


@pytest.fixture(scope="module")
def server(index):
    with serving(index, "--timeout", "300") as srv:
        yield srv


def search(server: Server, **params) -> dict:
    status, body = server.get("/search?" + urlencode(params, doseq=True))
    assert status == 200, body
    return body


def test_search_json_has_facets_when_asked(server):
    plain = search(server, q="ceasefire talks", k=3)
    assert plain["schema"] == "newsearch.results/1.1" and plain["facets"] is None
    body = search(server, q="ceasefire talks", k=3, facets="true", mode="bm25")
    facets = body["facets"]
    assert facets["total"] >= len(body["hits"]) and facets["words_complete"]
    assert facets["category"] and facets["month"]
    # bm25 counts every word match: a count is what choosing that value returns.
    for v in facets["category"]:
        chosen = search(server, q="ceasefire talks", k=1000, mode="bm25", category=v["value"])
        assert len(chosen["hits"]) == v["count"]
    status, posted = server.post(
        "/search", {"q": "ceasefire talks", "k": 3, "facets": True, "mode": "bm25"}
    )
    assert status == 200 and posted["facets"] == facets


def facet_counts(html: str, facet: str) -> dict[str, int]:
    block = re.search(rf'id="facet-{facet}".*?</details>', html, re.S)
    assert block, facet
    pairs = re.findall(r'<a href="[^"]*">([^<]*)</a> <span class="count">\((\d+)\)', block[0])
    return {htmlmod.unescape(v): int(n) for v, n in pairs}


def test_page_shows_counts_over_all_matching_stories(server):
    status, html = server.get("/?" + urlencode({"q": "government talks", "mode": "hybrid"}))
    assert status == 200
    facets = search(server, q="government talks", facets="true")["facets"]
    assert facet_counts(html, "category") == {v["value"]: v["count"] for v in facets["category"]}
    months = facet_counts(html, "month")
    assert months and set(months) <= {v["value"] for v in facets["month"]}
    assert f"counts over all {facets['total']} matching stories" in html
    assert facets["total"] > 10  # more than the page: the counts are not the page's


def test_choosing_a_category_keeps_the_other_categories_counts(server):
    query = "government talks"
    _, html = server.get("/?" + urlencode({"q": query}))
    before = facet_counts(html, "category")
    chosen = max(before, key=before.get)
    _, html = server.get("/?" + urlencode({"q": query, "category": chosen}))
    assert facet_counts(html, "category") == before
    hits = re.findall(r'<div class="meta">([^<·]*)', html)
    assert hits and all(h.strip() == chosen for h in hits)


def test_a_month_link_sets_the_date_range_to_that_month(server):
    _, html = server.get("/?" + urlencode({"q": "government talks"}))
    block = re.search(r'id="facet-month".*?</details>', html, re.S)[0]
    url, month = re.search(r'<a href="([^"]*)">(\d{4}-\d{2})</a>', block).groups()
    params = parse_qs(urlsplit(htmlmod.unescape(url)).query)
    assert params["since"] == [month] and params["until"] == [month]
    status, page = server.get(htmlmod.unescape(url))
    assert status == 200
    metas = re.findall(r'<div class="meta">([^<]*)', page)
    assert metas and all(month in m for m in metas)


def test_page_marks_a_sentence_matched_by_meaning_differently(server):
    query = "dock labour stoppage"
    body = search(server, q=query, mode="dense")
    kinds = {
        m["kind"] for h in body["hits"] for p in h["paragraphs"] for m in p["snippet"]["matches"]
    }
    assert "semantic" in kinds
    _, html = server.get("/?" + urlencode({"q": query, "mode": "dense"}))
    assert '<mark class="semantic" title="matched by meaning">' in html
    assert "<script" not in html


def test_the_deepest_page_is_refused_with_400(server):
    status, body = server.get("/search?" + urlencode({"q": "x", "k": 10, "offset": 991}))
    assert status == 400 and "offset + k must be at most 1000" in body["error"]
    status, body = server.post("/search", {"q": "x", "k": 1, "offset": 5000})
    assert status == 400 and "offset + k must be at most 1000" in body["error"]
    status, body = server.get("/search?" + urlencode({"q": "x", "k": 10, "offset": 990}))
    assert status == 200
