"""The recency decay: its arithmetic, and on real indexes (the demo corpus, whose articles are
dated through 2026, and a small JSONL corpus with undated and old articles) through the
library and the CLI. Every test passes a fixed ``now``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import write
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.errors import QueryError
from newsearch.search import SearchConfig, Searcher
from newsearch.search.recency import (
    DEFAULT_WEIGHT,
    Recency,
    make_recency,
    parse_article_date,
    parse_half_life,
    parse_now,
)

NOW = dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc)
DENGUE = "health/2026-03-03-dengue-vaccine-trial-results.txt"  # March
FLU = "health/2026-12-09-flu-season-arrives-early.txt"  # December

runner = CliRunner()


# -- the arithmetic -----------------------------------------------------------------------


def test_factor_halves_the_lift_each_half_life_and_never_reaches_zero():
    r = Recency(half_life=30, weight=0.5)
    assert r.factor("2026-12-31", NOW) == pytest.approx(1.0)
    assert r.factor("2026-12-01", NOW) == pytest.approx(0.75)  # one half-life: 1 - w/2
    assert r.factor("2026-11-01", NOW) == pytest.approx(0.5 + 0.5 / 4)  # two (60 days)
    ancient = r.factor("1900-01-01", NOW)
    assert 0.5 <= ancient < 0.5 + 1e-6  # the floor 1 - w, never 0
    assert r.factor("2027-06-01", NOW) == 1.0  # dated after now: age 0, not a boost above 1
    heavy = Recency(half_life=1, weight=0.99)
    assert heavy.factor("1900-01-01", NOW) == pytest.approx(0.01)


def test_undated_articles_take_the_floor_as_if_infinitely_old():
    r = Recency(half_life=30, weight=0.4)
    assert r.factor("", NOW) == pytest.approx(0.6)
    assert r.factor("not a date", NOW) == pytest.approx(0.6)
    assert r.factor("", NOW) <= r.factor("1900-01-01", NOW)  # never lifted over a dated story


def test_half_lives_and_dates_parse_or_say_why_not():
    assert parse_half_life("30d") == 30 and parse_half_life("30") == 30
    assert parse_half_life("12h") == 0.5 and parse_half_life("2w") == 14
    assert parse_half_life("1.5d") == 1.5 and parse_half_life(7) == 7.0
    for bad in ("3x", "-5d", "", "d", "30 days"):
        with pytest.raises(QueryError, match="not a duration"):
            parse_half_life(bad)
    with pytest.raises(QueryError, match="above 0"):
        Recency(half_life=-1)
    with pytest.raises(QueryError, match="below 1"):
        Recency(half_life=30, weight=1.0)
    assert make_recency(None) is None and make_recency("0") is None and make_recency("") is None
    assert make_recency("30d") == Recency(30.0, DEFAULT_WEIGHT)
    assert parse_now("2026-12-31") == NOW
    assert parse_now("2026-12-31T12:00:00+01:00").utcoffset() == dt.timedelta(hours=1)
    assert parse_now(dt.date(2026, 12, 31)) == NOW
    with pytest.raises(QueryError, match="not a date"):
        parse_now("yesterday")
    assert parse_article_date("2026-03") == dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    assert parse_article_date("") is None


# -- the searcher on the demo corpus --------------------------------------------------------


@pytest.fixture(scope="module")
def searcher(demo_index):
    with Searcher(demo_index) as s:
        yield s


def _page(results) -> list[tuple[str, float]]:
    return [(h.article_id, h.score) for h in results]


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_off_by_default_pages_unchanged(searcher, mode):
    plain = searcher.search("strike over pay", k=8, mode=mode)
    assert plain.recency is None and plain.to_dict()["recency"] is None
    assert _page(searcher.search("strike over pay", k=8, mode=mode, recency=None)) == _page(plain)
    assert _page(searcher.search("strike over pay", k=8, mode=mode, recency=0)) == _page(plain)
    assert _page(searcher.search("strike over pay", k=8, mode=mode, now=NOW)) == _page(plain)


def test_each_score_is_the_fused_score_times_its_articles_factor(searcher):
    decay = Recency(half_life=30, weight=0.5)
    raw = {h.article_id: h for h in searcher.search("government", k=40, collapse=False)}
    got = searcher.search("government", k=40, collapse=False, recency=decay, now=NOW)
    assert got.recency == {"half_life_days": 30.0, "weight": 0.5, "now": NOW.isoformat()}
    assert len(got) == len(raw)
    for hit in got:
        assert hit.score == pytest.approx(raw[hit.article_id].score * decay.factor(hit.date, NOW))
        # the single searchers' own scores are reported as they were
        assert hit.best.keyword_score == raw[hit.article_id].best.keyword_score
    scores = [h.score for h in got]
    assert scores == sorted(scores, reverse=True)


def test_recency_changes_the_order_only_where_age_differs(searcher):
    plain = [h.article_id for h in searcher.search("vaccine", k=2)]
    assert plain == [DENGUE, FLU]  # the dengue trial matches the word best
    december = searcher.search("vaccine", k=2, recency="30d", now=NOW)
    assert [h.article_id for h in december] == [FLU, DENGUE]  # three weeks old vs ten months
    march = searcher.search("vaccine", k=2, recency="30d", now="2026-03-05")
    # in March the flu story lies in the future (age 0, as fresh as the dengue trial)
    assert [h.article_id for h in march] == [DENGUE, FLU]
    gentle = searcher.search("vaccine", k=2, recency=Recency(30, weight=0.01), now=NOW)
    assert [h.article_id for h in gentle] == plain  # a light touch does not overturn relevance


def test_recency_from_the_config_and_turned_off_per_query(demo_index):
    with Searcher(demo_index, config=SearchConfig(recency_half_life=30)) as s:
        lifted = s.search("vaccine", k=2, now=NOW)
        assert lifted.recency is not None and lifted.recency["weight"] == DEFAULT_WEIGHT
        assert lifted.hits[0].article_id == FLU
        off = s.search("vaccine", k=2, recency=0)
        assert off.recency is None and off.hits[0].article_id == DENGUE


def test_pages_with_recency_are_slices_of_one_ranking(searcher):
    whole = searcher.search("government", k=12, recency="60d", now=NOW)
    pages = [
        h.story_id
        for offset in (0, 4, 8)
        for h in searcher.search("government", k=4, offset=offset, recency="60d", now=NOW)
    ]
    assert pages == [h.story_id for h in whole]


# -- undated and old articles in one index ----------------------------------------------------


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("recency")
    body = (
        "The Quillmere harbour authority approved a new breakwater after winter storms "
        "flooded the fish market twice."
    )
    title = "Quillmere breakwater approved"
    rows = [
        {"id": "fresh", "title": title, "text": body, "date": "2026-12-30"},
        {"id": "undated", "title": title, "text": body},
        {"id": "old", "title": title, "text": body, "date": "2016-12-30"},
        {
            "id": "other",
            "title": "Orchard growers expect a late apple harvest",
            "text": "A cold spring delayed blossom across the valley's orchards.",
            "date": "2026-12-30",
        },
    ]
    write(root / "src" / "a.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    build_index([root / "src"], root / "ix", BuildOptions(), embedder=embedder)
    return root / "ix"


def test_undated_take_no_boost_and_rank_below_every_equal_dated_copy(dated_index):
    decay = Recency(half_life=365, weight=0.5)
    with Searcher(dated_index) as s:
        raw = {h.article_id: h.score for h in s.search("Quillmere breakwater", collapse=False)}
        # the three copies hold the same text: the same fused score before the decay
        assert raw["fresh"] == pytest.approx(raw["undated"]) == pytest.approx(raw["old"])
        got = s.search("Quillmere breakwater", collapse=False, recency=decay, now=NOW)
    scores = {h.article_id: h.score for h in got}
    assert [h.article_id for h in got][:3] == ["fresh", "old", "undated"]
    assert scores["fresh"] == pytest.approx(raw["fresh"] * decay.factor("2026-12-30", NOW))
    assert scores["undated"] == pytest.approx(raw["undated"] * (1 - decay.weight))
    assert scores["old"] > scores["undated"] > 0


# -- the CLI ------------------------------------------------------------------------------


def test_cli_recency_json_and_header(demo_index):
    args = ["query", "vaccine", "-k", "2", "-i", str(demo_index)]
    plain = runner.invoke(app, [*args, "--json"])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["hits"][0]["article_id"] == DENGUE
    lifted = runner.invoke(app, [*args, "--json", "--recency", "30d", "--now", "2026-12-31"])
    assert lifted.exit_code == 0, lifted.output
    data = json.loads(lifted.stdout)
    assert data["hits"][0]["article_id"] == FLU
    assert data["recency"]["half_life_days"] == 30
    assert data["recency"]["now"].startswith("2026-12-31")
    text = runner.invoke(app, [*args, "--recency", "2w", "--now", "2026-12-31"])
    assert text.exit_code == 0 and "recency half-life 14d" in text.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recency", "3x"], "not a duration"),
        (["--now", "2026-12-31"], "need --recency"),
        (["--recency", "30d", "--now", "soon"], "not a date"),
        (["--recency", "30d", "--recency-weight", "1"], "below 1"),
    ],
)
def test_cli_recency_mistakes_are_one_error_line(demo_index, extra, message):
    result = runner.invoke(app, ["query", "vaccine", "-i", str(demo_index), *extra])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
