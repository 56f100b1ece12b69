"""Whoosh's ``StemmingAnalyzer`` one token at a time, without its token objects.

The keyword index analyses text with Whoosh's stemming analyzer: a regular-expression
tokenizer, then lower case, a stop list with a minimum length, and the Porter stemmer. Every
filter acts on one token alone, so the terms of a text are those of its tokens taken one by
one, and a token's term depends on the token only: it can be computed once and remembered.
Story shingles (``stories.py``, every build and update) and snippet marks
(``search/snippets.py``, every result page) need exactly that, and going through the
analyzer's generator chain per token was most of their cost. tests/test_analysis.py holds
these functions equal to the analyzer.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

#: Stems remembered, one table per process for every user (Whoosh's ``StemFilter`` keeps
#: 50,000 in an LFU cache): Reuters-21578 has ~65k distinct indexed words; beyond the bound
#: the table starts again (cleared in place, never replaced: ``STEMS.get`` stays valid).
MAX_STEMS = 200_000
STEMS: dict[str, str] = {}
_STEMS_LOCK = threading.Lock()
#: Each token as the tokenizer cut it (any case) -> its term or None (a stop word, too short):
#: a snippet looks up ~70 tokens per paragraph, and lower-casing, the stop test and the stem
#: lookup per token were 1.6 ms of a 12 ms BBC result page. Bounded like ``STEMS``.
TERMS: dict[str, str | None] = {}


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """The keyword index's analyzer (imported on first use: a query that never needs it
    does not pay for Whoosh's analysis modules)."""
    from whoosh.analysis import StemmingAnalyzer

    return StemmingAnalyzer()


@lru_cache(maxsize=1)
def _parts() -> tuple[Any, frozenset[str], int]:
    tokenizer, _lower, stop, _stemmer = analyzer().items
    return tokenizer.expression, frozenset(stop.stops), stop.min


def stem(word: str) -> str:
    """Whoosh's Porter stem of a lower-case word, remembered (the keyword writer, story
    shingles and snippet marks all stem through this one table)."""
    stemmed = STEMS.get(word)
    if stemmed is None:
        from whoosh.lang.porter import stem as porter_stem

        stemmed = porter_stem(word)
        with _STEMS_LOCK:  # searches stem from many threads
            if len(STEMS) >= MAX_STEMS:
                STEMS.clear()
            STEMS[word] = stemmed
    return stemmed


def token_expression():
    """The tokenizer's compiled expression (``finditer`` gives the analyzer's tokens)."""
    return _parts()[0]


def term_of(token: str) -> str | None:
    """The analyzer's term for one token as its tokenizer cut it; None for a stop word or a
    token shorter than the stop filter's minimum."""
    try:
        return TERMS[token]
    except KeyError:
        pass
    _, stops, minsize = _parts()
    word = token.lower()
    term = None if len(word) < minsize or word in stops else stem(word)
    with _STEMS_LOCK:
        if len(TERMS) >= MAX_STEMS:
            TERMS.clear()
        TERMS[token] = term
    return term


def distinct_terms(text: str) -> set[str]:
    """The set of the analyzer's terms of ``text``."""
    expression = token_expression()
    tokens = {m.group(0) for m in expression.finditer(text)}
    terms = {term_of(t) for t in tokens}
    terms.discard(None)
    return terms  # type: ignore[return-value]
