"""Stable pages: pages of one generation, of any page size, are slices of one sequence (the
first N*k hits of one big page), in every mode, with and without collapsing, with filters and
shallow candidate lists that make the search dig deeper, and while updates land in between
(a ``Searcher`` is pinned to the generation it opened; the CLI and the server say how deep a
page may go). Real model, real indexes on disk."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest
from conftest import DEMO, run_cli, write

from newsearch import update_index
from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.errors import QueryError
from newsearch.search import SearchConfig, Searcher
from newsearch.search.filters import Filter
from newsearch.search.searcher import MAX_K

#: Page sizes tried against one big page.
SIZES = (1, 3, 7, 10)
#: Snippet sentences are not what paging is about: no encoding of them here.
PLAIN = SearchConfig(semantic_highlights=False)


def demo_queries() -> list[str]:
    """Every demo headline and each article's first sentence: 60-odd queries."""
    out = []
    for path in sorted(DEMO.rglob("*.txt")):
        lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        out.append(lines[0])
        out.append(re.split(r"(?<=[.!?])\s", lines[1], maxsplit=1)[0])
    return out


def key(hit, collapse: bool) -> str:
    return hit.story_id if collapse else hit.article_id


def walk(searcher: Searcher, query: str, k: int, n: int, **kw) -> list[str]:
    """The hits of pages 1.. of size ``k`` until ``n`` hits or a short page."""
    collapse = kw.get("collapse", True)
    out: list[str] = []
    for offset in range(0, n, k):
        page = searcher.search(query, k=k, offset=offset, **kw)
        assert [h.rank for h in page.hits] == list(range(offset + 1, offset + 1 + len(page)))
        out += [key(h, collapse) for h in page.hits]
        if len(page) < k:
            break
    return out[:n]


def check_pages(searcher: Searcher, query: str, n: int, **kw) -> int:
    """Pages of every size in ``SIZES`` against one page of ``n``; returns pages checked."""
    collapse = kw.get("collapse", True)
    whole = [key(h, collapse) for h in searcher.search(query, k=n, **kw).hits]
    pages = 0
    for k in SIZES:
        paged = walk(searcher, query, k, n, **kw)
        pages += -(-max(1, len(paged)) // k)
        assert len(paged) == len(set(paged)), (query, k, "a story repeats")
        assert paged == whole, (query, k, kw)
    return pages


@pytest.fixture(scope="module")
def demo(demo_index, embedder):
    with Searcher(demo_index, config=PLAIN, embedder=embedder) as s:
        yield s


@pytest.fixture(scope="module")
def shallow(demo_index, embedder):
    """Three candidates per searcher: nearly every page digs deeper, several times."""
    config = SearchConfig(candidates=3, semantic_highlights=False)
    with Searcher(demo_index, config=config, embedder=embedder) as s:
        yield s


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_pages_of_any_size_are_one_big_page_for_many_queries(demo, mode):
    pages = sum(check_pages(demo, q, 20, mode=mode) for q in demo_queries()[::2])
    assert pages > 500


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
@pytest.mark.parametrize("collapse", [True, False])
def test_pages_stay_one_sequence_while_the_search_digs_deeper(shallow, mode, collapse):
    filters = Filter.make(category=["sport", "science", "technology", "politics"])
    for q in demo_queries()[::6]:
        check_pages(shallow, q, 12, mode=mode, collapse=collapse, filters=filters)
        check_pages(shallow, q, 12, mode=mode, collapse=collapse)


def test_the_deepest_page_is_capped(demo):
    demo.search("ceasefire", k=10, offset=MAX_K - 10)  # the last page there is
    with pytest.raises(QueryError, match=f"offset \\+ k must be at most {MAX_K}"):
        demo.search("ceasefire", k=10, offset=MAX_K - 9)
    with pytest.raises(QueryError, match="offset must be a whole number"):
        demo.search("ceasefire", k=10, offset=-1)


# -- while updates land ------------------------------------------------------------------


def extra_article(corpus: Path, n: int) -> None:
    """A new article that ranks first for the test query, so an unpinned page would move."""
    write(
        corpus / "world" / f"2026-12-{n % 28 + 1:02d}-ceasefire-extra-{n}.txt",
        f"Ceasefire talks number {n} resume\n\nNegotiators resumed ceasefire talks, round {n}, "
        "with security guarantees for the border on the table.",
    )


@pytest.fixture()
def changing(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO, corpus, ignore=shutil.ignore_patterns("README*"))
    index = tmp_path / "index"
    build_index([corpus], index, BuildOptions(), embedder=embedder)
    return corpus, index


QUERY = "ceasefire talks security guarantees"


def test_a_searcher_pins_its_generation_while_updates_land(changing, embedder):
    corpus, index = changing
    with Searcher(index, embedder=embedder) as searcher:
        whole = [h.story_id for h in searcher.search(QUERY, k=20).hits]
        first = searcher.generation
        paged: list[str] = []
        for n, offset in enumerate(range(0, 20, 4)):
            paged += [h.story_id for h in searcher.search(QUERY, k=4, offset=offset).hits]
            extra_article(corpus, n)
            update_index([corpus], index, embedder=embedder)  # a new generation is published
        assert paged == whole and searcher.generation == first
        assert searcher.refresh()  # the caller moves on when it chooses: a new first page
        newest = [h.story_id for h in searcher.search(QUERY, k=20).hits]
        assert newest != whole and "ceasefire-extra" in newest[0]


def test_pages_under_concurrent_updates_never_repeat_or_skip(changing, embedder):
    """A writer thread publishes generations as fast as it can while pages are read."""
    corpus, index = changing
    stop = threading.Event()
    published: list[int] = []

    def writer() -> None:
        n = 100
        while not stop.is_set() and n < 130:
            extra_article(corpus, n)
            update_index([corpus], index, embedder=embedder)
            published.append(n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    pages = 0
    try:
        for _round in range(40):
            if len(published) >= 4 and _round >= 8:
                break
            with Searcher(index, config=PLAIN, embedder=embedder) as pinned:  # one session
                pages += check_pages(pinned, QUERY, 12, mode="hybrid")
    finally:
        stop.set()
        thread.join(timeout=600)
    assert len(published) >= 2 and pages >= 100


# -- the CLI -----------------------------------------------------------------------------


cli = run_cli


def test_cli_offset_pages_and_the_cap(demo_index):
    import json

    whole = json.loads(cli("query", QUERY, "-i", demo_index, "-k", "9", "--json").stdout)
    pages = []
    for offset in (0, 3, 6):
        proc = cli("query", QUERY, "-i", demo_index, "-k", "3", "--offset", offset, "--json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["offset"] == offset
        pages += [h["story_id"] for h in data["hits"]]
    assert pages == [h["story_id"] for h in whole["hits"]]
    shown = cli("query", QUERY, "-i", demo_index, "-k", "3", "--offset", "3")
    assert shown.returncode == 0 and "from #4" in shown.stdout
    assert re.search(r"^\s*4\. ", shown.stdout, re.M)
    for bad, says in ((["--offset", "995"], "offset + k must be at most 1000"),
                      (["--offset", "-2"], "offset must be")):  # fmt: skip
        proc = cli("query", QUERY, "-i", demo_index, "-k", "10", *bad)
        assert proc.returncode == 2 and says in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- the server --------------------------------------------------------------------------


def test_server_pages_of_one_token_hold_while_generations_are_published(changing):
    """Another process publishes generations while a client pages with the first page's
    token: every page comes from that generation and the pages are one big page, as long as
    the server keeps it (``keep_generations``, 4); then 410 says to start again."""
    from urllib.parse import urlencode

    from serving import serving

    corpus, index = changing
    with serving(index, "--timeout", "300") as srv:

        def get(**params):
            status, body = srv.get("/search?" + urlencode(params))
            assert status == 200, body
            return body

        def publish(n: int) -> None:
            current = srv.get("/status")[1]["generation"]
            extra_article(corpus, n)
            proc = cli("index", "-i", index, "-q")  # a new generation, from another process
            assert proc.returncode == 0, proc.stderr
            srv.wait_for(lambda: srv.get("/status")[1]["generation"] != current, 10.0)

        first = get(q=QUERY, k=4)
        token = first["generation"]
        paged = [h["story_id"] for h in first["hits"]]
        for n, offset in enumerate(range(4, 16, 4)):
            publish(200 + n)  # three new generations: the token's is the 4th most recent
            page = get(q=QUERY, k=4, offset=offset, generation=token)
            assert page["generation"] == token
            paged += [h["story_id"] for h in page["hits"]]
        whole = get(q=QUERY, k=16, generation=token)
        assert paged == [h["story_id"] for h in whole["hits"]]
        assert len(paged) == len(set(paged)) == 16
        newest = get(q=QUERY, k=16)
        assert newest["generation"] != token and "ceasefire-extra" in newest["hits"][0]["story_id"]
        for n in range(4):  # more generations: the token's is let go, and the server says so
            publish(300 + n)
            status, body = srv.get("/search?" + urlencode({"q": QUERY, "generation": token}))
            if status != 200:
                break
        assert status == 410 and "no longer kept" in body["error"]
        status, body = srv.get("/search?" + urlencode({"q": QUERY, "k": 10, "offset": 5000}))
        assert status == 400 and "offset + k must be at most 1000" in body["error"]
