"""Related stories and recency over HTTP: a real ``newsearch serve`` (uvicorn on a free
loopback port, started and stopped here) over a real demo index."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from serving import Server, serving

RAIL = "business/2026-05-02-harbour-rail-strike-coastal-herald.txt"
RAIL_COPY = "business/2026-05-02-harbour-rail-strike-daily-ledger.txt"
DENGUE = "health/2026-03-03-dengue-vaccine-trial-results.txt"
FLU = "health/2026-12-09-flu-season-arrives-early.txt"


@pytest.fixture(scope="module")
def server(demo_index):
    with serving(demo_index, "--timeout", "300") as srv:
        yield srv


def one_line_error(status: int, body: object, expected: int) -> str:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_related_answers_the_related_schema(server: Server):
    status, body = server.get(f"/articles/{RAIL}/related?k=3")
    assert status == 200, body
    assert body["schema"] == "newsearch.related/1" and body["article_id"] == RAIL
    assert body["k"] == 3 and len(body["hits"]) == 3 and body["generation"]
    ids = [h["article_id"] for h in body["hits"]]
    ids += [c["article_id"] for h in body["hits"] for c in h["also_in"]]
    assert RAIL not in ids and RAIL_COPY not in ids  # its own story is left out
    assert body["hits"][0]["article_id"].startswith("health/2026-05-20-nurses-strike")


def test_related_is_the_same_as_the_library(server: Server, demo_index):
    from newsearch.search import Searcher

    with Searcher(demo_index) as s:
        expected = [h.story_id for h in s.related(DENGUE, k=4)]
    status, body = server.get(f"/articles/{quote(DENGUE)}/related?k=4")
    assert status == 200 and [h["story_id"] for h in body["hits"]] == expected


def test_article_route_still_answers_beside_related(server: Server):
    status, body = server.get(f"/articles/{RAIL}")
    assert status == 200 and body["article"]["id"] == RAIL


def test_related_errors_are_one_line_of_json(server: Server):
    message = one_line_error(*server.get("/articles/no/such.txt/related"), 404)
    assert "no/such.txt" in message
    one_line_error(*server.get(f"/articles/{RAIL}/related?k=0"), 422)
    one_line_error(*server.get(f"/articles/{RAIL}/related?k=abc"), 422)


def test_search_recency_by_get_and_post(server: Server):
    plain = server.get("/search?" + urlencode({"q": "vaccine", "k": 2}))[1]
    assert plain["recency"] is None and plain["hits"][0]["article_id"] == DENGUE
    query = {"q": "vaccine", "k": 2, "recency": "30d", "now": "2026-12-31"}
    status, got = server.get("/search?" + urlencode(query))
    assert status == 200, got
    assert got["hits"][0]["article_id"] == FLU
    assert got["recency"]["half_life_days"] == 30 and got["recency"]["weight"] == 0.5
    status, posted = server.post("/search", {**query, "recency_weight": 0.5})
    assert status == 200 and [h["article_id"] for h in posted["hits"]] == [
        h["article_id"] for h in got["hits"]
    ]
    status, days = server.post("/search", {**query, "recency": 30})  # a bare number: days
    assert status == 200 and days["hits"] == posted["hits"] and days["recency"] == got["recency"]


def test_search_recency_mistakes_are_400_or_422(server: Server):
    assert "not a duration" in one_line_error(
        *server.get("/search?" + urlencode({"q": "vaccine", "recency": "3x"})), 400
    )
    assert "not a date" in one_line_error(
        *server.get("/search?" + urlencode({"q": "vaccine", "recency": "30d", "now": "soon"})),
        400,
    )
    one_line_error(*server.get("/search?" + urlencode({"q": "v", "recency_weight": 1})), 422)
    assert "need recency" in one_line_error(
        *server.get("/search?" + urlencode({"q": "vaccine", "now": "2026-12-31"})), 400
    )
