"""Metadata filters: which articles a query may return (source, category, date range).

Filters are checked against the docstore's article rows inside the candidate lists of the
single searchers, before fusion and before the top k is cut (see ``Searcher.search``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from newsearch.indexer.docstore import StoredArticle
from newsearch.indexer.errors import QueryError


def _values(given: str | Iterable[str] | None) -> tuple[str, ...]:
    if given is None:
        return ()
    items = [given] if isinstance(given, str) else list(given)
    return tuple(sorted({v.strip().casefold() for v in items if v and v.strip()}))


def parse_date(value: str | dt.date | None, name: str) -> str:
    """A filter bound as ``YYYY-MM-DD`` (also accepts ``YYYY-MM`` and ``YYYY``); '' for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    text = str(value).strip()
    for fmt, width in (("%Y-%m-%d", 10), ("%Y-%m", 7), ("%Y", 4)):
        try:
            dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return text[:width]
    raise QueryError(f"{name} must be a date like 2026-05-02, got {value!r}")


@dataclass(frozen=True)
class Filter:
    """Which articles may be returned. Empty fields do not filter.

    ``source`` and ``category`` hold one or more allowed values, compared case-insensitively
    and exactly. ``since`` and ``until`` are inclusive date bounds (``YYYY-MM-DD``; a shorter
    ``YYYY-MM`` or ``YYYY`` bound covers that whole month or year); an article without a date
    never passes a date bound, since nothing says it falls inside the range.
    """

    source: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    since: str = ""
    until: str = ""

    def __post_init__(self) -> None:
        """Values are normalised however the filter is made (``Filter(source="BBC")`` and
        ``Filter.make(source=["bbc"])`` are the same filter); a malformed date or a range
        that ends before it starts is a ``QueryError``."""
        set_ = object.__setattr__  # frozen: normalising in place is the constructor's job
        set_(self, "source", _values(self.source))
        set_(self, "category", _values(self.category))
        set_(self, "since", parse_date(self.since, "since"))
        set_(self, "until", parse_date(self.until, "until"))
        if self.since and self.until and self.until < self.since[: len(self.until)]:
            raise QueryError(f"until ({self.until}) is before since ({self.since})")

    @classmethod
    def make(
        cls,
        source: str | Iterable[str] | None = None,
        category: str | Iterable[str] | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
    ) -> Filter:
        """A filter from user input (None: no bound); the constructor normalises it."""
        return cls(source or (), category or (), since or "", until or "")  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        return bool(self.source or self.category or self.since or self.until)

    def accepts(self, article: StoredArticle) -> bool:
        if self.source and article.source.strip().casefold() not in self.source:
            return False
        if self.category and article.category.strip().casefold() not in self.category:
            return False
        date = article.date.strip()
        if self.since and (not date or date[: len(self.since)] < self.since):
            return False
        return not (self.until and (not date or date[: len(self.until)] > self.until))
