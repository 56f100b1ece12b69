"""The search page's state and what it shows, as plain data for the template.

The page's whole state lives in its URL (``PageState.url``), so every view is a plain GET that
the back button and a bookmark can return to. Nothing here builds HTML: the template receives
text pieces and escapes all of them (Jinja2 autoescape); snippet marks are pieces flagged
``marked``, cut at the ``matches`` offsets the search returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from newsearch.search.facets import FacetCount, Facets
from newsearch.search.results import ArticleHit, SearchResults
from newsearch.search.searcher import MAX_K, MODES
from newsearch.search.snippets import SEMANTIC

#: Hits per page.
PAGE_SIZE = 10
#: The deepest page: a query reaches MAX_K stories.
MAX_PAGE = MAX_K // PAGE_SIZE
#: Months listed at most beside the date range (the most frequent ones).
MAX_MONTHS = 12


@dataclass(frozen=True)
class PageState:
    """What the page shows, read from and written to its query string."""

    q: str = ""
    mode: str = "hybrid"
    category: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    since: str = ""
    until: str = ""
    page: int = 1
    #: The generation the first page came from: later pages read the same one.
    g: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Sequence[str]]) -> PageState:
        """From parsed query parameters (name -> values); bad values are checked by the
        search, except ``page``, which must be a number from 1 to ``MAX_PAGE``."""

        def one(name: str) -> str:
            values = params.get(name) or [""]
            return values[-1].strip()

        def many(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip() for v in params.get(name, []) if v.strip()))

        page_text = one("page") or "1"
        page = int(page_text) if page_text.isdigit() and len(page_text) < 6 else 0
        if not 1 <= page <= MAX_PAGE:
            raise ValueError(f"page must be a number from 1 to {MAX_PAGE}")
        return cls(
            q=one("q"),
            mode=one("mode") or "hybrid",
            category=many("category"),
            source=many("source"),
            since=one("since"),
            until=one("until"),
            page=page,
            g=one("g"),
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def pairs(self) -> list[tuple[str, str]]:
        out = [("q", self.q)]
        if self.mode != "hybrid":
            out.append(("mode", self.mode))
        out += [("category", c) for c in self.category]
        out += [("source", s) for s in self.source]
        if self.since:
            out.append(("since", self.since))
        if self.until:
            out.append(("until", self.until))
        if self.page > 1:
            out += [("page", str(self.page)), ("g", self.g)]
        return out

    def url(self, **changes: Any) -> str:
        """The page's URL with ``changes``; any change but ``page`` starts again at page 1
        on the newest generation."""
        if set(changes) - {"page", "g"}:
            changes = {"page": 1, "g": "", **changes}
        state = replace(self, **changes)
        return "/?" + urlencode([(k, v) for k, v in state.pairs() if v != ""])

    def toggled(self, name: str, value: str) -> str:
        """The URL with filter value ``value`` of ``name`` (category, source) added or removed."""
        values: tuple[str, ...] = getattr(self, name)
        chosen = _folded(values)
        if value.casefold() in chosen:
            kept = tuple(v for v in values if v.casefold() != value.casefold())
        else:
            kept = (*values, value)
        return self.url(**{name: kept})


@dataclass(frozen=True)
class Piece:
    """A run of snippet text; ``marked`` when it is a matched query word, or (also
    ``semantic``) the sentence that matched by meaning."""

    text: str
    marked: bool = False
    semantic: bool = False


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    chosen: bool
    url: str


@dataclass(frozen=True)
class Copy:
    title: str
    article_id: str
    source: str
    category: str
    date: str
    href: str | None
    article_url: str


@dataclass(frozen=True)
class Hit:
    """One result as the template shows it."""

    rank: int
    title: str
    article_id: str
    article_url: str
    href: str | None
    source: str
    category: str
    date: str
    score: float
    snippets: list[list[Piece]]
    also_in: list[Copy]
    also_in_more: int


@dataclass(frozen=True)
class Page:
    state: PageState
    hits: list[Hit] = field(default_factory=list)
    total_estimate: int = 0
    took_ms: float = 0.0
    generation: str = ""
    categories: list[FacetValue] = field(default_factory=list)
    sources: list[FacetValue] = field(default_factory=list)
    months: list[FacetValue] = field(default_factory=list)
    #: Matching stories the facet counts are taken over (filters but the facets' own applied).
    facet_total: int = 0
    modes: list[tuple[str, str, bool]] = field(default_factory=list)
    prev_url: str | None = None
    next_url: str | None = None
    error: str = ""
    notice: str = ""


def pieces(text: str, matches: Iterable[Any]) -> list[Piece]:
    """``text`` cut at the ``[start, end)`` offsets of ``matches``; overlapping or
    out-of-range offsets are clipped, so any input gives pieces that join back to ``text``."""
    out: list[Piece] = []
    at = 0
    for m in sorted(matches, key=lambda m: (m.start, m.end)):
        start, end = max(at, min(m.start, len(text))), max(0, min(m.end, len(text)))
        if end <= start:
            continue
        if start > at:
            out.append(Piece(text[at:start]))
        semantic = getattr(m, "kind", "word") == SEMANTIC
        out.append(Piece(text[start:end], marked=True, semantic=semantic))
        at = end
    if at < len(text):
        out.append(Piece(text[at:]))
    return out


def safe_href(url: str) -> str | None:
    """A stored URL usable as a link: http(s) with a host; anything else (``javascript:``,
    ``data:``, relative paths) is shown as nothing."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() or not c.isprintable() for c in url):
        return None
    return url


def article_url(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="")


def hit_view(hit: ArticleHit) -> Hit:
    snippets = [
        pieces(p.snippet.text, p.snippet.matches) if p.snippet else [Piece(p.text)]
        for p in hit.paragraphs
    ]
    copies = [
        Copy(
            title=c.title or c.article_id,
            article_id=c.article_id,
            source=c.source,
            category=c.category,
            date=c.date,
            href=safe_href(c.url),
            article_url=article_url(c.article_id),
        )
        for c in hit.also_in
    ]
    return Hit(
        rank=hit.rank,
        title=hit.title or hit.article_id,
        article_id=hit.article_id,
        article_url=article_url(hit.article_id),
        href=safe_href(hit.url),
        source=hit.source,
        category=hit.category,
        date=hit.date,
        score=hit.score,
        snippets=snippets,
        also_in=copies,
        also_in_more=max(0, hit.also_in_total - len(copies)),
    )


def facets(state: PageState, name: str, counts: Iterable[FacetCount]) -> list[FacetValue]:
    """The values of facet ``name`` (category, source) with their counts over all the query's
    matching stories (``search/facets.py``), most frequent first; chosen values are listed
    even when no matching story has them."""
    values = list(counts)
    chosen = _folded(getattr(state, name))
    listed = {v.value.casefold() for v in values}
    values += [FacetCount(v, 0) for v in getattr(state, name) if v.casefold() not in listed]
    return [
        FacetValue(v.value, v.count, v.value.casefold() in chosen, state.toggled(name, v.value))
        for v in values
    ]


def month_facets(state: PageState, counts: Iterable[FacetCount]) -> list[FacetValue]:
    """Months with matching stories, newest first (the ``MAX_MONTHS`` most frequent): each
    links to the date range of that month, or back to no range when it is the one chosen."""
    top = sorted(counts, key=lambda v: (-v.count, v.value))[:MAX_MONTHS]
    out = []
    for v in sorted(top, key=lambda v: v.value, reverse=True):
        chosen = state.since == v.value and state.until == v.value
        url = state.url(since="", until="") if chosen else state.url(since=v.value, until=v.value)
        out.append(FacetValue(v.value, v.count, chosen, url))
    return out


def build_page(
    state: PageState,
    results: SearchResults,
    generation: str,
    facet_counts: Facets,
    month_counts: Facets | None = None,
    notice: str = "",
) -> Page:
    """Everything the template shows for one results page. ``facet_counts``: the query's
    facets with every filter but category and source; ``month_counts``: with every filter but
    the date range."""
    shown_state = replace(state, g=generation)
    has_next = (
        len(results.hits) == PAGE_SIZE
        and results.total_estimate > state.offset + PAGE_SIZE
        and state.page < MAX_PAGE
    )
    return Page(
        state=shown_state,
        hits=[hit_view(h) for h in results.hits],
        total_estimate=results.total_estimate,
        took_ms=results.took_ms,
        generation=generation,
        categories=facets(state, "category", facet_counts.category),
        sources=facets(state, "source", facet_counts.source),
        months=month_facets(state, month_counts.month if month_counts else []),
        facet_total=facet_counts.total,
        modes=mode_links(state),
        prev_url=shown_state.url(page=state.page - 1) if state.page > 1 else None,
        next_url=shown_state.url(page=state.page + 1) if has_next else None,
        notice=notice,
    )


def mode_links(state: PageState) -> list[tuple[str, str, bool]]:
    return [(m, state.url(mode=m), m == state.mode) for m in MODES]


def _folded(values: Iterable[str]) -> set[str]:
    return {v.casefold() for v in values}
