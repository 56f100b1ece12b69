"""``newsearch serve`` over HTTP: a real uvicorn on a free loopback port, real indexes.

Covers the JSON API (search by GET and POST, paging with a generation token, articles,
stories, status, health), its errors (one line of JSON, the right status, never a traceback),
the limits, hostile ids and paths, and the page served as plain HTML.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import run_cli, write
from serving import PATH_ID, Server, hostile_corpus, serving

from newsearch.indexer import BuildOptions, build_index
from newsearch.search.query import MAX_QUERY_CHARS


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return hostile_corpus(tmp_path_factory.mktemp("serve") / "corpus")


@pytest.fixture(scope="module")
def index(corpus, embedder) -> Path:
    index_dir = corpus.parent / "index"
    build_index([corpus], index_dir, BuildOptions(), embedder=embedder)
    return index_dir


@pytest.fixture(scope="module")
def server(index):
    with serving(index, "--timeout", "300") as srv:
        yield srv


def search(server: Server, **params) -> tuple[int, dict]:
    return server.get("/search?" + urlencode(params, doseq=True))


def one_line_error(status: int, body: object, expected: int) -> str:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    message = body["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


# -- search ------------------------------------------------------------------------------


def test_search_answers_the_results_schema_with_paging_fields(server):
    status, body = search(server, q="security guarantees", k=3)
    assert status == 200
    assert body["schema"] == "newsearch.results/1.1"
    assert body["hits"][0]["article_id"].startswith("world/2026-03-14-valdoria")
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3]
    assert body["offset"] == 0 and body["k"] == 3
    assert body["total_estimate"] >= 3
    assert body["generation"] and body["warnings"] == []
    snippet = body["hits"][0]["paragraphs"][0]["snippet"]
    marked = {snippet["text"][m["start"] : m["end"]].lower() for m in snippet["matches"]}
    assert marked & {"security", "guarantees"}


def test_post_search_is_the_same_as_get(server):
    _, got = search(server, q="hospital nurses strike", k=4, mode="bm25", category="health")
    status, posted = server.post(
        "/search", {"q": "hospital nurses strike", "k": 4, "mode": "bm25", "category": ["health"]}
    )
    assert status == 200
    assert [h["article_id"] for h in posted["hits"]] == [h["article_id"] for h in got["hits"]]
    assert posted["filters"]["category"] == ["health"]
    assert all(h["category"] == "health" for h in posted["hits"])


def test_pages_of_one_generation_never_repeat_or_skip(server):
    whole = search(server, q="government", k=30)[1]
    token = whole["generation"]
    paged = []
    for offset in range(0, 30, 7):
        status, page = search(server, q="government", k=7, offset=offset, generation=token)
        assert status == 200 and page["generation"] == token
        assert [h["rank"] for h in page["hits"]] == list(
            range(offset + 1, offset + 1 + len(page["hits"]))
        )
        paged += [h["story_id"] for h in page["hits"]]
    assert len(paged) == len(set(paged))
    assert paged[:30] == [h["story_id"] for h in whole["hits"]][: len(paged[:30])]


def test_long_query_is_cut_with_a_warning(server):
    status, body = server.post("/search", {"q": "ceasefire " * 1200, "k": 1})
    assert status == 200
    assert len(body["query"]) <= MAX_QUERY_CHARS
    assert body["warnings"] and f"{MAX_QUERY_CHARS:,}" in body["warnings"][0]


@pytest.mark.parametrize(
    ("params", "expected", "says"),
    [
        ({"q": "x", "k": 0}, 422, "k"),
        ({"q": "x", "k": 1001}, 422, "k"),
        ({"q": "x", "offset": -1}, 422, "offset"),
        ({"q": "x", "offset": 995, "k": 10}, 400, "offset + k"),
        ({"q": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"q": "x", "fusion": "max"}, 422, "fusion"),
        ({"q": "x", "since": "yesterday"}, 400, "since"),
        ({"q": "x", "since": "2026-05", "until": "2026-01"}, 400, "until"),
        ({"q": "   "}, 400, "empty"),
        ({"k": 3}, 422, "q"),
        ({"q": "x", "generation": "../../etc"}, 400, "generation"),
        ({"q": "x", "generation": "20200101T000000-1-1"}, 410, "no longer kept"),
    ],
)
def test_bad_parameters_get_one_line_json(server, params, expected, says):
    status, body = search(server, **params)
    assert says in one_line_error(status, body, expected)


def test_bad_post_bodies_get_one_line_json(server):
    status, _, raw = server.request(
        "POST", "/search", b"{not json", {"Content-Type": "application/json"}
    )
    one_line_error(status, json.loads(raw), 422)
    status, body = server.post("/search", {"q": "x", "rm": "-rf"})
    assert "rm" in one_line_error(status, body, 422)
    status, _, raw = server.request(
        "POST", "/search", b'{"q": "' + b"a" * 100_000 + b'"}', {"Content-Type": "application/json"}
    )
    assert "body" in one_line_error(status, json.loads(raw), 413)


def test_unknown_route_and_method_are_json(server):
    status, body = server.get("/nothing-here")
    one_line_error(status, body, 404)
    status, _, raw = server.request("DELETE", "/search")
    one_line_error(status, json.loads(raw), 405)


# -- articles and stories ------------------------------------------------------------------


def test_article_with_its_paragraphs(server):
    aid = "world/2026-03-14-valdoria-seeks-security-guarantees-before-ceasefire.txt"
    status, body = server.get("/articles/" + aid)
    assert status == 200
    assert body["article"]["id"] == aid and body["article"]["category"] == "world"
    positions = [p["position"] for p in body["paragraphs"]]
    assert positions == sorted(positions) and len(positions) >= 3
    assert any("security guarantees" in p["text"] for p in body["paragraphs"])


def test_story_lists_its_copies(server):
    hit = search(server, q="security guarantees", k=1)[1]["hits"][0]
    status, body = server.get("/stories/" + quote(hit["story_id"], safe="/"))
    assert status == 200
    ids = [a["id"] for a in body["articles"]]
    assert hit["article_id"] in ids
    assert {c["article_id"] for c in hit["also_in"]} <= set(ids)
    one_line_error(*server.get("/stories/no-such-story"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/articles/../../etc/passwd",
        "/articles/%2e%2e/%2e%2e/etc/passwd",
        "/articles/..%2f..%2f..%2fetc%2fshadow",
        "/articles/../../../etc/shadow",
        "/articles//etc/passwd",
        "/articles/%00",
        "/stories/../../../etc/passwd",
    ],
)
def test_paths_in_requests_are_never_read(server, path):
    status, _, raw = server.request("GET", path)
    assert status == 404, raw
    assert b"root:" not in raw
    one_line_error(status, json.loads(raw), 404)


@pytest.mark.parametrize("path", ["/articles/" + quote(PATH_ID, safe=""), "/articles/" + PATH_ID])
def test_an_id_that_looks_like_a_path_is_only_a_key(server, path):
    status, body = server.get(path)
    assert status == 200
    assert body["article"]["id"] == PATH_ID
    assert "Pelicanthrope" in body["paragraphs"][0]["text"]
    assert "root:" not in json.dumps(body)


# -- status, health, docs -------------------------------------------------------------------


def test_status_health_and_docs(server, index):
    status, body = server.get("/status")
    assert status == 200 and body["ready"] is True
    assert body["articles"] >= 34 and body["generation"] in body["kept_generations"]
    assert server.get("/healthz") == (200, {"ok": True})
    status, body = server.get("/readyz")
    assert status == 200 and body["ready"] is True
    status, spec = server.get("/openapi.json")
    assert status == 200
    assert {"/search", "/articles/{article_id}", "/stories/{story_id}", "/status"} <= set(
        spec["paths"]
    )
    assert {"get", "post"} <= set(spec["paths"]["/search"])
    status, html = server.get("/docs")
    assert status == 200 and "openapi.json" in html


# -- the page as HTML -----------------------------------------------------------------------


def test_page_escapes_the_query_and_stored_text(server):
    query = "<script>alert(1)</script> zorblax quokka <img src=x onerror=alert(2)>"
    status, headers, raw = server.request("GET", "/?" + urlencode({"q": query}))
    html = raw.decode()
    assert status == 200
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none' rules
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html.replace(" ", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the query, shown literally
    assert "&lt;script&gt;window.__pwned" in html  # the hostile headline, shown literally
    assert "<mark>" in html


def test_page_without_a_query_and_with_a_bad_page(server):
    status, html = server.get("/")
    assert status == 200 and 'name="q"' in html
    status, html = server.get("/?q=x&page=0")
    assert status == 400 and "page must be" in html
    status, html = server.get("/?q=x&since=someday")
    assert status == 400 and "since must be a date" in html


# -- no index, a damaged index, timeouts ----------------------------------------------------


def test_no_index_is_503_with_what_to_run(tmp_path):
    with serving(tmp_path / "nothing") as srv:
        status, body = search(srv, q="anything")
        assert "newsearch index" in one_line_error(status, body, 503)
        assert srv.get("/readyz")[0] == 503
        assert srv.get("/healthz")[0] == 200
        status, body = srv.get("/status")
        assert status == 200 and body["ready"] is False and "newsearch index" in body["problem"]
        status, html = srv.get("/")
        assert status == 503 and "newsearch index" in html


def test_damaged_index_is_503_with_what_to_run(index, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(index, damaged)
    generation = damaged / "generations" / (damaged / "CURRENT").read_text().strip()
    (generation / "docstore.sqlite").write_bytes(b"garbage" * 10)
    with serving(damaged) as srv:
        status, body = search(srv, q="ceasefire")
        assert "--rebuild" in one_line_error(status, body, 503)


def test_a_request_over_the_time_limit_is_504(index):
    with serving(index, "--timeout", "0.001") as srv:
        status, body = search(srv, q="ceasefire talks", k=50)
        assert "longer than" in one_line_error(status, body, 504)
        assert srv.get("/healthz")[0] == 200  # the server goes on


# -- live: another process publishes, --watch applies ---------------------------------------


_cli = run_cli


def test_generation_published_by_another_process_is_served_within_a_second(corpus, tmp_path):
    local = tmp_path / "corpus"
    shutil.copytree(corpus, local)
    index_dir = tmp_path / "index"
    assert _cli("index", local, "-i", index_dir, "-q").returncode == 0
    with serving(index_dir, "--timeout", "300") as srv:
        first = search(srv, q="ceasefire", k=3, mode="bm25")[1]
        write(local / "world" / "2026-12-01-glimmerfen.txt", "Glimmerfen accord\n\nGlimmerfen.")
        proc = _cli("index", "-i", index_dir, "-q")
        published = time.monotonic()
        assert proc.returncode == 0, proc.stderr
        srv.wait_for(lambda: srv.get("/status")[1]["generation"] != first["generation"], 5.0)
        assert time.monotonic() - published < 1.0
        status, body = search(srv, q="glimmerfen", k=1, mode="bm25")
        assert status == 200 and body["hits"][0]["title"] == "Glimmerfen accord"
        # the first generation is still kept for its token
        status, old = search(srv, q="glimmerfen", k=1, mode="bm25", generation=first["generation"])
        assert status == 200 and old["generation"] == first["generation"]
        assert not old["hits"] or old["hits"][0]["title"] != "Glimmerfen accord"


def test_watch_applies_changes_and_queries_move_on(corpus, tmp_path):
    local = tmp_path / "corpus"
    shutil.copytree(corpus, local)
    index_dir = tmp_path / "index"
    assert _cli("index", local, "-i", index_dir, "-q").returncode == 0
    with serving(index_dir, "--watch", str(local), "--debounce", "0.2", "--timeout", "300") as srv:
        before = search(srv, q="quasarbloom", k=1, mode="bm25")[1]
        assert before["hits"] == []
        write(local / "science" / "2026-12-02-quasarbloom.txt", "Quasarbloom seen\n\nQuasarbloom.")

        def found():
            body = search(srv, q="quasarbloom", k=1, mode="bm25")[1]
            return body if body["hits"] else None

        after = srv.wait_for(found, timeout=120, every=0.2)
        assert after["generation"] != before["generation"]
        assert srv.get("/status")[1]["watch"]["updates"] >= 1


def test_workers_each_follow_the_index(index, tmp_path):
    local = Path(shutil.copytree(index, tmp_path / "index"))
    with serving(local, "--workers", "2", "--timeout", "300") as srv:
        before = {search(srv, q="ceasefire", k=1, mode="bm25")[1]["generation"] for _ in range(8)}
        assert len(before) == 1
        proc = _cli("index", "-i", local, "--rebuild", "-q")
        assert proc.returncode == 0, proc.stderr
        new = (local / "CURRENT").read_text().strip()
        assert new not in before

        def all_moved():
            seen = {search(srv, q="ceasefire", k=1, mode="bm25")[1]["generation"] for _ in range(8)}
            return seen == {new}

        srv.wait_for(all_moved, timeout=10)
