"""Recency: an optional decay that lifts recent stories over older ones of similar relevance.

A hit's fused score is multiplied by ``1 - w + w * 2 ** (-age / half_life)``: 1 for a story
dated ``now`` (or later), ``1 - w/2`` at one half-life, approaching the floor ``1 - w`` for
very old ones, so relevance still decides among old stories and an old story is never zeroed
(``w`` below 1). Age is measured in days from the article's date to ``now`` (a datetime you
pass; the current time otherwise, so tests and benchmarks use a fixed one).

**Undated articles take no boost**: they get the floor factor ``1 - w``, as if infinitely old.
Nothing says they are recent, so they are never lifted over a dated story; and since the decay
only ever lowers a score towards that floor, an undated article is ranked exactly as the
oldest dated ones of equal relevance.

The factor is the same for every paragraph of an article, so it is applied to the fused
paragraph scores before they are grouped: an article's score (its best paragraph) and a story's
(its best member) are then the decayed ones, and collapsing and paging work unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from newsearch.indexer.errors import QueryError

#: The weight when only a half-life is given: a story one half-life old keeps 75 % of its
#: score, a very old or undated one 50 %.
DEFAULT_WEIGHT = 0.5
_UNITS = {"": 1.0, "d": 1.0, "h": 1 / 24, "w": 7.0, "y": 365.25}
_HALF_LIFE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhwy]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Recency:
    """A decay by age: ``half_life`` in days (> 0), ``weight`` in [0, 1) (0: no decay)."""

    half_life: float
    weight: float = DEFAULT_WEIGHT

    def __post_init__(self) -> None:
        if not (isinstance(self.half_life, (int, float)) and math.isfinite(self.half_life)):
            raise QueryError(f"recency half-life must be a number of days, got {self.half_life!r}")
        if self.half_life <= 0:
            raise QueryError(f"recency half-life must be above 0 days, got {self.half_life:g}")
        if not 0.0 <= self.weight < 1.0:
            raise QueryError(
                f"recency weight must be at least 0 and below 1 (1 would zero old stories), "
                f"got {self.weight:g}"
            )

    def factor(self, date: str, now: dt.datetime) -> float:
        """What a story dated ``date`` (the docstore's text) is multiplied by at ``now``."""
        when = parse_article_date(date)
        if when is None:
            return 1.0 - self.weight
        age = max(0.0, (now - when).total_seconds() / 86400.0)
        return 1.0 - self.weight + self.weight * 2.0 ** (-age / self.half_life)


def make_recency(half_life: str | float | None, weight: float | None = None) -> Recency | None:
    """The decay asked for by a user (``--recency 30d``, ``recency=30``): None when no
    half-life or a zero one is given; ``weight`` None means :data:`DEFAULT_WEIGHT`."""
    if half_life is None or half_life == "":
        return None
    days = parse_half_life(half_life)
    if days == 0:
        return None
    return Recency(days, DEFAULT_WEIGHT if weight is None else weight)


def parse_half_life(text: str | float | int) -> float:
    """Days from ``30d``, ``12h``, ``2w``, ``1y`` or a bare number of days."""
    if isinstance(text, (int, float)):
        return float(text)
    m = _HALF_LIFE.match(str(text))
    if not m:
        raise QueryError(
            f"recency half-life {text!r} is not a duration: use e.g. 30d, 12h, 2w or 30 (days)"
        )
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def parse_now(value: str | dt.date | dt.datetime | None) -> dt.datetime:
    """A timezone-aware ``now``: the one given (an ISO date or datetime; naive means UTC), or
    the current time."""
    if value is None or value == "":
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    when = parse_article_date(str(value))
    if when is None:
        raise QueryError(f"now {value!r} is not a date: use YYYY-MM-DD or an ISO datetime")
    return when


def parse_article_date(date: str) -> dt.datetime | None:
    """An article date as a UTC datetime: ISO ``YYYY-MM-DD`` with or without a time, or a
    month or year alone (its first day); None when there is none or it cannot be read."""
    text = (date or "").strip()
    if not text:
        return None
    try:
        return _aware(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    for fmt, width in (("%Y-%m-%d", 10), ("%Y-%m", 7), ("%Y", 4)):
        try:
            return _aware(dt.datetime.strptime(text[:width], fmt))
        except ValueError:
            continue
    return None


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)
