"""Filters normalise their own values, however they are built, and judge stored articles."""

import datetime as dt

import pytest

from newsearch import Filter
from newsearch.errors import QueryError
from newsearch.indexer.docstore import StoredArticle


def article(source="", category="", date="") -> StoredArticle:
    return StoredArticle("a", "t", "", date, source, "", category, 1)


def test_the_constructor_normalises_like_make():
    built = Filter(source=("BBC", " bbc "), category="Sport")
    assert built == Filter.make(source=["bbc"], category=["sport"])
    assert built.source == ("bbc",) and built.category == ("sport",)
    assert built.accepts(article(source="BBC", category="sport"))
    assert not built.accepts(article(source="Reuters", category="sport"))


def test_dates_are_checked_and_shortened_bounds_cover_their_period():
    f = Filter(since="2026-03", until=dt.date(2026, 3, 31))
    assert (f.since, f.until) == ("2026-03", "2026-03-31")
    assert f.accepts(article(date="2026-03-14"))
    assert not f.accepts(article(date="2026-04-01"))
    assert not f.accepts(article(date=""))  # undated never passes a date bound
    with pytest.raises(QueryError, match="since must be a date"):
        Filter(since="March")
    with pytest.raises(QueryError, match="before since"):
        Filter.make(since="2026-05-02", until="2026-05-01")


def test_an_empty_filter_is_inactive_and_accepts_everything():
    assert not Filter().active and not Filter.make(source=[], since=None).active
    assert Filter().accepts(article())
