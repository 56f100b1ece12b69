"""Hostile queries against a real index, through the library and through the CLI.

Every query either gives sensible results or a clear ``QueryError`` (CLI: one ``error:`` line,
exit code 2); nothing raises anything else and nothing prints a traceback.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer.errors import QueryError
from newsearch.search import Searcher
from newsearch.search.query import MAX_QUERY_CHARS, prepare_query
from newsearch.search.searcher import MAX_K

MARATHON = "sport/2026-04-26-omollo-marathon-world-record-valmont.txt"
VALDORIA = "world/2026-03-14-valdoria-seeks-security-guarantees-before-ceasefire.txt"

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def searcher(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        yield s


def ids(results) -> list[str]:
    return [h.article_id for h in results.hits]


# (query, an article that bm25 must rank in its top 3, or None when bm25 has no words to use)
WHOOSH_SYNTAX = [
    ("title:marathon", MARATHON),
    ("marathon AND (record OR NOT ceasefire)", MARATHON),
    ('"world record" marathon', MARATHON),
    ('"world record', MARATHON),  # unbalanced quote
    ("marath* rec?rd~2 marathon^3", MARATHON),
    ("[a TO z] marathon", MARATHON),
    ("security:guarantees OR valdoria", VALDORIA),
    ("((((valdoria", VALDORIA),
    ("-valdoria +ceasefire", VALDORIA),
    ("AND OR NOT", None),  # only operators, which are stopwords
    ("*", None),
    ("?~^", None),
    ("[ TO ]", None),
]


@pytest.mark.parametrize(("query", "expected"), WHOOSH_SYNTAX)
def test_whoosh_syntax_is_plain_text(searcher, query, expected):
    bm25 = searcher.search(query, k=3, mode="bm25")
    if expected is None:
        assert bm25.hits == []
    else:
        assert expected in ids(bm25)
    hybrid = searcher.search(query, k=3)  # dense always has a nearest neighbour
    assert len(hybrid.hits) == 3


@pytest.mark.parametrize(
    "query",
    ["the and of", "a an the is it to", "!!! ??? ...", "— – … · • «»", "🏃‍♀️🏃🏃", "$%&/()=", "0"],
)
def test_queries_without_indexable_words(searcher, query):
    bm25 = searcher.search(query, k=5, mode="bm25")
    if query != "0":  # "0" is a word; it may or may not occur
        assert bm25.hits == []
    dense = searcher.search(query, k=5, mode="dense")
    assert len(dense.hits) == 5  # the model embeds anything
    assert len(searcher.search(query, k=5).hits) == 5


@pytest.mark.parametrize("query", ["", " ", "\t\n\r ", "\x00", "\x00\x01\x7f\x1b", "\u200b\u00a0"])
def test_empty_after_cleaning_is_a_query_error(searcher, query):
    for mode in ("bm25", "dense", "hybrid"):
        with pytest.raises(QueryError, match="empty"):
            searcher.search(query, k=3, mode=mode)


def test_control_characters_and_nul_are_spaces(searcher):
    results = searcher.search("marathon\x00world\x07record\x1b[31m", k=3, mode="bm25")
    assert results.hits[0].article_id == MARATHON
    assert results.query.isprintable() and "\x00" not in results.query
    # a lone surrogate (what an undecodable argv byte becomes) is dropped too
    assert searcher.search("marathon \udce9", k=1, mode="bm25").hits[0].article_id == MARATHON


def test_emoji_and_mixed_scripts(searcher):
    results = searcher.search("🏃 марафон 马拉松 μαραθώνιος marathon record", k=3, mode="bm25")
    assert results.hits[0].article_id == MARATHON
    assert len(searcher.search("марафон 马拉松 🏃", k=3).hits) == 3


def test_a_100k_character_query_is_cut_at_the_limit(searcher):
    words = "marathon world record " * 5000  # 110,000 characters
    results = searcher.search(words, k=3, mode="bm25")
    assert results.hits[0].article_id == MARATHON
    assert len(results.query) <= MAX_QUERY_CHARS
    assert results.query.endswith(("marathon", "world", "record"))  # cut between words
    one_word = searcher.search("x" * 100_000, k=2, mode="hybrid")
    assert len(one_word.query) == MAX_QUERY_CHARS and len(one_word.hits) == 2


def test_prepare_query_reports_the_cut():
    assert not prepare_query("short query").truncated
    long = prepare_query("word " * (MAX_QUERY_CHARS // 2))
    assert long.truncated and long.length == len(("word " * (MAX_QUERY_CHARS // 2)).strip())
    assert len(long.text) <= MAX_QUERY_CHARS
    with pytest.raises(QueryError, match="text"):
        prepare_query(None)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="text"):
        prepare_query(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [0, -1, -(10**12), 1.5, "3", None])
def test_bad_k_is_a_query_error(searcher, k):
    with pytest.raises(QueryError, match="k must be"):
        searcher.search("marathon", k=k, mode="bm25")  # type: ignore[arg-type]


def test_huge_k_is_capped(searcher):
    results = searcher.search("marathon", k=10**12, mode="bm25")
    assert results.k == MAX_K and 0 < len(results.hits) <= 32
    everything = searcher.search("news", k=10**6, collapse=False)
    assert len(everything.hits) == 32  # every article of the demo corpus


def test_bad_mode_is_a_query_error(searcher):
    with pytest.raises(QueryError, match="mode"):
        searcher.search("marathon", k=3, mode="title:x")


# -- the same through the CLI -----------------------------------------------------------------


def one_error_line(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("query", [q for q, _ in WHOOSH_SYNTAX] + ["the and of", "🏃🏃", "0"])
def test_cli_whoosh_syntax_and_wordless_queries(demo_index, query):
    for mode in ("bm25", "hybrid"):
        # "--" ends the options: a query may start with "-" (README, "Limits and errors")
        result = cli("query", "--mode", mode, "-k", "2", "-i", demo_index, "--json", "--", query)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["query"] == " ".join(query.split())
        assert "Traceback" not in result.output


@pytest.mark.parametrize("query", ["", "   ", "\t", "\x01\x02", "\u00a0"])
def test_cli_empty_query_is_one_line_and_exit_2(demo_index, query):
    result = cli("query", query, "-i", demo_index)
    assert result.exit_code == 2
    assert "empty" in one_error_line(result)


@pytest.mark.parametrize("k", ["0", "-1", "-99999999999999999999"])
def test_cli_k_below_one_is_exit_2(demo_index, k):
    result = cli("query", "marathon", "-k", k, "-i", demo_index)
    assert result.exit_code == 2
    assert "-k must be at least 1" in one_error_line(result)


def test_cli_query_starting_with_a_dash_needs_the_double_dash(demo_index):
    result = cli("query", "-valdoria +ceasefire", "-i", demo_index)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "No such option" in result.output
    result = cli("query", "--mode", "bm25", "-i", demo_index, "--", "-valdoria +ceasefire")
    assert result.exit_code == 0 and VALDORIA in result.stdout


def test_cli_k_not_a_number_is_a_usage_error(demo_index):
    result = cli("query", "marathon", "-k", "lots", "-i", demo_index)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "Invalid value" in result.output


def test_cli_huge_k(demo_index):
    result = cli("query", "marathon", "-k", str(10**15), "--mode", "bm25", "-i", demo_index)
    assert result.exit_code == 0, result.output
    assert "results for" in result.stdout


def test_cli_100k_query_warns_that_it_was_cut(demo_index):
    query = "marathon world record " * 4600  # ~100,000 characters (an argv string can hold it)
    result = cli("query", query, "--mode", "bm25", "-k", "1", "-i", demo_index)
    assert result.exit_code == 0, result.output
    assert f"longer than {MAX_QUERY_CHARS:,} characters" in result.stderr
    first = result.stdout.splitlines()[0]
    assert "results for" in first and len(first) < 200  # shown abbreviated
    data = json.loads(
        cli("query", query, "--mode", "bm25", "-k", "1", "-i", demo_index, "--json").stdout
    )
    assert data["hits"][0]["article_id"] == MARATHON
    assert len(data["query"]) <= MAX_QUERY_CHARS


def test_cli_control_characters_emoji_and_mixed_scripts(demo_index):
    for query in ("mara\x1bthon\x00", "🏃 марафон 马拉松 marathon", "\udce9 marathon"):
        result = cli("query", query, "--mode", "bm25", "-k", "1", "-i", demo_index)
        assert result.exit_code == 0, result.output
        assert "results for" in result.stdout and "\x1b" not in result.stdout
        assert "Traceback" not in result.output


def test_cli_bad_mode_and_bad_fusion_are_exit_2(demo_index):
    assert "unknown mode" in one_error_line(cli("query", "x", "--mode", "AND", "-i", demo_index))
    result = cli("query", "x", "--fusion", "magic", "-i", demo_index)
    assert result.exit_code == 2
    one_error_line(result)
