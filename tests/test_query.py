"""What a query may be (search/query.py): cleaning, refusal of empty queries, the length cut.

No index needed: ``prepare_query`` decides what every searcher sees. Searching such queries
through a real index is tested in hostile/test_queries.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from newsearch.indexer.errors import QueryError
from newsearch.search.query import (
    MAX_CLEANED_CHARS,
    MAX_QUERY_CHARS,
    PreparedQuery,
    clean_query,
    prepare_query,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("marathon\x00world\x07record", "marathon world record"),  # NUL and BEL
        ("marathon\x1b[31mrecord", "marathon [31mrecord"),  # ESC of a colour code
        ("marathon\x7frecord\x9frecord", "marathon record record"),  # DEL and a C1 control
        ("marathon\udce9record", "marathon record"),  # a lone surrogate (undecodable argv)
        ("\ud800marathon\udfff", "marathon"),
        ("marathon\u200brecord\u2028world", "marathon record world"),  # zero width, line sep.
        ("  marathon \t\n\r\u00a0 record  ", "marathon record"),  # whitespace runs: one space
        ("marathon\x00\x00\x00\x00record", "marathon record"),
    ],
)
def test_control_characters_nul_and_lone_surrogates_become_spaces(raw, expected):
    prepared = prepare_query(raw)
    assert prepared.text == expected
    assert prepared.length == len(expected) and not prepared.truncated
    assert clean_query(raw) == expected


@pytest.mark.parametrize(
    "query",
    [
        "title:x AND (y OR z*) [a TO b]",  # never parsed as syntax: kept as typed
        "🏃 марафон 马拉松 μαραθώνιος",
        "café naïve e\u0301",  # combining marks are printable
        '"a quoted phrase" -minus +plus',
    ],
)
def test_printable_text_is_kept_as_it_is(query):
    assert prepare_query(query).text == query


@pytest.mark.parametrize(
    "query", ["", " ", "\t\n\r ", "\x00", "\x00\x01\x7f\x1b", "\udce9\ud800", "\u200b\u00a0\u2028"]
)
def test_a_query_empty_after_cleaning_is_a_query_error(query):
    with pytest.raises(QueryError, match="empty"):
        prepare_query(query)


@pytest.mark.parametrize("query", [None, b"marathon", 42, ["marathon"]])
def test_a_query_that_is_not_text_is_a_query_error(query):
    with pytest.raises(QueryError, match="text"):
        prepare_query(query)


def test_a_query_error_is_exit_code_2():
    assert QueryError.exit_code == 2


def test_a_query_of_exactly_the_limit_is_not_cut():
    query = ("abcd " * (MAX_QUERY_CHARS // 5))[:-1] + "e"
    assert len(query) == MAX_QUERY_CHARS
    prepared = prepare_query(query)
    assert prepared.text == query and not prepared.truncated and prepared.length == len(query)


def test_a_long_query_is_cut_at_the_last_word_boundary_before_the_limit():
    words = " ".join(f"w{i}" for i in range(4000))  # about 21,900 characters
    prepared = prepare_query(words)
    assert prepared.truncated and prepared.length == len(words)
    assert len(prepared.text) <= MAX_QUERY_CHARS
    assert words.startswith(prepared.text)
    assert words[len(prepared.text)] == " "  # ends with a whole word ...
    assert len(prepared.text) > MAX_QUERY_CHARS - len(" w3999")  # ... the last one that fits


def test_an_argument_length_query_is_searched_whole():
    """An argument used as a query (BEIR ArguAna: median ~1,100 characters, 7 % over 2,000,
    the longest near 7,000) keeps its last words: the old 2,000-character cut dropped them."""
    argument = " ".join(f"point{i} because evidence shows" for i in range(240))
    assert 7_000 < len(argument) <= MAX_QUERY_CHARS
    prepared = prepare_query(argument)
    assert prepared.text == argument and not prepared.truncated
    assert prepared.text.endswith("point239 because evidence shows")


def test_a_word_boundary_right_at_the_limit_keeps_the_limit():
    query = "x" * MAX_QUERY_CHARS + " more words"
    prepared = prepare_query(query)
    assert prepared.text == "x" * MAX_QUERY_CHARS and prepared.truncated


def test_a_query_without_a_late_enough_space_is_cut_at_the_limit():
    """A boundary in the first half would throw away most of the query: cut mid-word instead."""
    query = "short " + "y" * (2 * MAX_QUERY_CHARS)
    prepared = prepare_query(query)
    assert prepared.text == query[:MAX_QUERY_CHARS] and prepared.length == len(query)
    one_word = prepare_query("z" * (MAX_QUERY_CHARS + 1))
    assert one_word.text == "z" * MAX_QUERY_CHARS and one_word.truncated


def test_the_length_is_of_the_cleaned_query():
    spaced = "a" + " " * 5000 + "\x00" * 5000 + "b"
    prepared = prepare_query(spaced)
    assert prepared.text == "a b" and prepared.length == 3 and not prepared.truncated


def test_the_length_is_counted_over_the_first_200000_characters_only():
    prepared = prepare_query("q" * 1_000_000)
    assert prepared.length == MAX_CLEANED_CHARS == 200_000
    assert prepared.truncated and prepared.text == "q" * MAX_QUERY_CHARS


def test_a_prepared_query_is_immutable():
    prepared = prepare_query("marathon")
    assert prepared == PreparedQuery("marathon", 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.text = "other"  # type: ignore[misc]
