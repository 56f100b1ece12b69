"""What a query may be: any text, cleaned of what no index can use, and at most so long.

Queries are never parsed as Whoosh syntax (``keyword.py`` builds query objects from the words),
so ``title:x``, ``AND``, ``(``, ``*`` or ``[a TO b]`` are plain characters: their words are
searched, their punctuation is dropped by the analyzer, and none of them can raise. What is left
to decide here is what every searcher sees:

* control characters, NUL and lone surrogates become spaces, whitespace runs one space;
* a query that is empty after that is refused (``QueryError``, exit code 2 in the CLI);
* a query longer than ``MAX_QUERY_CHARS`` is cut there (at a word boundary) and the CLI says so:
  the dense model reads 256 tokens (about 1,000 characters) anyway, and BM25 over thousands of
  OR'ed words costs time without changing the ranking a person asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsearch.indexer.errors import QueryError

#: Longest query searched, in characters (after whitespace is collapsed).
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class PreparedQuery:
    text: str
    #: Characters of the cleaned query before it was cut (== len(text) when not cut; counted
    #: over the first 200,000 characters given).
    length: int

    @property
    def truncated(self) -> bool:
        return self.length > len(self.text)


def prepare_query(query: object) -> PreparedQuery:
    """The query as searched; raises ``QueryError`` for a query that is not text or is empty."""
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    raw = query[: MAX_QUERY_CHARS * 100]  # cleaning is a loop per character: bound it too
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in raw).split())
    if not cleaned:
        raise QueryError("the query is empty")
    if len(cleaned) <= MAX_QUERY_CHARS:
        return PreparedQuery(cleaned, len(cleaned))
    cut = cleaned[: MAX_QUERY_CHARS + 1]
    space = cut.rfind(" ", MAX_QUERY_CHARS // 2)
    text = cut[:space] if space > 0 else cut[:MAX_QUERY_CHARS]
    return PreparedQuery(text.rstrip(), len(cleaned))


def clean_query(query: object) -> str:
    """``prepare_query(query).text``."""
    return prepare_query(query).text
