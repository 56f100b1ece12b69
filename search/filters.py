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

    @classmethod
    def make(
        cls,
        source: str | Iterable[str] | None = None,
        category: str | Iterable[str] | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
    ) -> Filter:
        """Normalise user input; a malformed date is a ``QueryError``."""
        f = cls(
            _values(source),
            _values(category),
            parse_date(since, "since"),
            parse_date(until, "until"),
        )
        if f.since and f.until and f.until < f.since[: len(f.until)]:
            raise QueryError(f"until ({f.until}) is before since ({f.since})")
        return f

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
