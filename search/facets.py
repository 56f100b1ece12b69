"""Facets: how many of a query's matching stories carry each category, source and month.

"Matching" needs a definition, because a search by meaning has no natural end (every
paragraph has some cosine to the query). A story matches when one of its paragraphs is among
the query's candidates after the filters:

- **by words** (bm25 and hybrid mode): every paragraph that holds a query word, in its text
  or its article's headline, up to ``MAX_WORD_PARAGRAPHS`` (past that, the best of them by
  BM25, and ``words_complete`` is false);
- **by meaning** (dense and hybrid mode): the ``depth`` nearest paragraphs by vector, where
  ``depth`` is the searcher's candidate depth (``SearchConfig.candidates``, 1000).

The set is the same whatever page is asked (it does not depend on ``k`` or ``offset``), so
every page of a query shows the same counts. A story counts once under each value that one
of its matching articles carries (copies of one story in two outlets count under both), so a
count says how many matching stories that filter value keeps; the values of one facet may add
up to more than ``total``. Values compare case-insensitively, as filters do (the label shown
is the spelling of the first article in id order); a month is the
``YYYY-MM`` of an article's date, and undated articles count under no month.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from newsearch.indexer.docstore import StoredArticle
from newsearch.indexer.stores import DocumentReader

from .filters import Filter

#: Word matches counted at most (Reuters' commonest words hold ~50k paragraphs; counting
#: them all would cost more than the search).
MAX_WORD_PARAGRAPHS = 20_000
#: The facets drawn from articles, in the order they are shown.
FIELDS: tuple[str, ...] = ("category", "source", "month")
_MONTH = re.compile(r"^\d{4}-\d{2}")


@dataclass(frozen=True)
class FacetCount:
    """One value of a facet and how many matching stories (articles) carry it."""

    value: str
    count: int


@dataclass(frozen=True)
class Facets:
    """Counts over all matching stories of a query (articles, when not collapsed)."""

    #: Matching stories (articles when not collapsed) in all.
    total: int = 0
    category: list[FacetCount] = field(default_factory=list)
    source: list[FacetCount] = field(default_factory=list)
    month: list[FacetCount] = field(default_factory=list)
    #: Paragraphs nearest by meaning that were counted (0 in bm25 mode).
    depth: int = 0
    #: Every paragraph holding a query word was counted (true in dense mode: none are).
    words_complete: bool = True


def month_of(date: str) -> str:
    """``YYYY-MM`` of an article date, '' when it has none."""
    date = date.strip()
    return date[:7] if _MONTH.match(date) else ""


def _value(article: StoredArticle, name: str) -> str:
    return month_of(article.date) if name == "month" else getattr(article, name).strip()


class ArticleTable:
    """Every paragraph's article and every article's row of one generation, read once: a
    query's facets then count thousands of matching paragraphs with dictionary lookups
    instead of reading them from the docstore (BBC: ~250 ms a query before, under load)."""

    def __init__(self, article_of: dict[int, str], articles: dict[str, StoredArticle]) -> None:
        self.article_of = article_of
        self.articles = articles

    @classmethod
    def load(cls, docstore: DocumentReader) -> ArticleTable | None:
        """The table of ``docstore``; None for a reader without bulk reads (a cluster's)."""
        article_of = getattr(docstore, "paragraph_article_ids", None)
        every = getattr(docstore, "all_articles", None)
        if article_of is None or every is None:
            return None
        return cls(article_of(), every())


def count_facets(
    docstore: DocumentReader,
    pids: Iterable[int],
    filters: Filter,
    collapse: bool,
    depth: int = 0,
    words_complete: bool = True,
    table: ArticleTable | None = None,
) -> Facets:
    """Facet counts of the stories (articles) holding paragraphs ``pids``, filters applied,
    looked up in ``table`` when given, else in ``docstore``. Each facet is ordered by count,
    then value; a value is shown as spelled in one of its articles."""
    if table is not None:
        article_of, articles = table.article_of, table.articles
        found = {article_of[pid] for pid in pids if pid in article_of}
    else:
        found = {p.article_id for p in docstore.paragraphs(pids).values()}
        articles = docstore.articles(found)
    keys: set[str] = set()
    per_value: dict[str, dict[str, set[str]]] = {name: {} for name in FIELDS}
    labels: dict[str, dict[str, str]] = {name: {} for name in FIELDS}
    for aid in sorted(found):
        a = articles.get(aid)
        if a is None or (filters.active and not filters.accepts(a)):
            continue
        key = (a.story_id or a.id) if collapse else a.id
        keys.add(key)
        for name in FIELDS:
            value = _value(a, name)
            if value:
                folded = value.casefold()
                labels[name].setdefault(folded, value)
                per_value[name].setdefault(folded, set()).add(key)

    def ordered(name: str) -> list[FacetCount]:
        counts = [(labels[name][v], len(ks)) for v, ks in per_value[name].items()]
        return [FacetCount(v, n) for v, n in sorted(counts, key=lambda vn: (-vn[1], vn[0]))]

    return Facets(
        total=len(keys),
        category=ordered("category"),
        source=ordered("source"),
        month=ordered("month"),
        depth=depth,
        words_complete=words_complete,
    )
