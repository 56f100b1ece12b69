"""What a query may be: any text, cleaned of what no index can use, and at most so long.

Queries are never parsed as Whoosh syntax (``keyword.py`` builds query objects from the words),
so ``title:x``, ``AND``, ``(``, ``*`` or ``[a TO b]`` are plain characters: their words are
searched, their punctuation is dropped by the analyzer, and none of them can raise. What is left
to decide here is what every searcher sees:

* control characters, NUL and lone surrogates become spaces, whitespace runs one space;
* a query that is empty after that is refused (``QueryError``, exit code 2 in the CLI);
* a query longer than ``MAX_QUERY_CHARS`` is cut there (at a word boundary) and the CLI says so.
  The limit holds a whole argument or article used as the query ("find what answers this",
  BEIR ArguAna: median ~1,100 characters, 7 % over 2,000): BM25 reads all of it, where a
  2,000-character cut dropped the end of such arguments (the dense model reads its first 256
  tokens, about 1,000 characters, whatever the limit). A long query is a bag of words
  (``keyword.LONG_QUERY_WORDS``: no phrase matching), so it costs what its distinct words cost
  (10,000 characters: a few hundred distinct words after stopwords and stemming); the limit
  bounds what a pasted document costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsearch.indexer.errors import QueryError

#: Longest query searched, in characters (after whitespace is collapsed).
MAX_QUERY_CHARS = 10_000
#: Characters of a given query that are cleaned and counted (cleaning is a loop per character).
MAX_CLEANED_CHARS = 200_000


@dataclass(frozen=True)
class PreparedQuery:
    text: str
    #: Characters of the cleaned query before it was cut (== len(text) when not cut; counted
    #: over the first ``MAX_CLEANED_CHARS`` characters given).
    length: int

    @property
    def truncated(self) -> bool:
        return self.length > len(self.text)


def prepare_query(query: object) -> PreparedQuery:
    """The query as searched; raises ``QueryError`` for a query that is not text or is empty."""
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    raw = query[:MAX_CLEANED_CHARS]
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
