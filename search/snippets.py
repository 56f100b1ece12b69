"""Snippets: a hit's paragraph with the query's words marked, trimmed around them if long.

Matching is by stem with the keyword index's own analyzer (Whoosh ``StemmingAnalyzer``), so a
query for "guarantee" marks "guarantees" and "Guaranteed" exactly where BM25 found them, while
the marks themselves cover the words as written in the article. Offsets are character offsets
into ``Snippet.text`` (Python string indices), which is what the JSON output carries.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

from newsearch.indexer.analysis import analyzer as _analyzer
from newsearch.indexer.analysis import term_of

#: Paragraphs longer than this are cut to a window of about this many characters.
MAX_CHARS = 300
#: When trimming, how much text to keep before the first match of the window.
LEAD_CHARS = 60
ELLIPSIS = "…"


#: A ``Match`` of a query word (by stem).
WORD = "word"
#: A ``Match`` of the sentence nearest to the query by meaning (``search/highlights.py``),
#: given only when no query word occurs in the paragraph.
SEMANTIC = "semantic"


@dataclass(frozen=True)
class Match:
    """One marked span: ``text[start:end]`` of the snippet, as written in the article; a query
    word (``kind`` "word") or the sentence that matched by meaning (``kind`` "semantic")."""

    start: int
    end: int
    kind: str = WORD


@dataclass(frozen=True)
class Snippet:
    """What a hit shows of a paragraph.

    ``text`` may begin and/or end with an ellipsis where it was trimmed; ``start``/``end`` say
    which part of the paragraph (``context + ' ' + text``) it shows, without the ellipses.
    """

    text: str
    matches: list[Match] = field(default_factory=list)
    start: int = 0
    end: int = 0
    trimmed: bool = False


def query_stems(query: str) -> frozenset[str]:
    """The stems the keyword index searches for (stopwords dropped, quotes ignored)."""
    return frozenset(t.text for t in _analyzer()(query.replace('"', " ")))


def find_matches(text: str, stems: frozenset[str]) -> list[Match]:
    """Every word of ``text`` whose stem is one of ``stems``, as character spans of ``text``.

    The same tokens and stems as running the analyzer over ``text``, but each distinct word is
    analysed once per process (a result page stems ~20 paragraphs; the analyzer's per-token
    filter chain was the largest cost of a query). The tokens are listed by ``findall`` (in
    C) and only the matching words are located again: a Python step per token of every
    paragraph was most of a page's snippet time.
    """
    if not stems:
        return []
    words = [w for w in set(_tokens().findall(text)) if term_of(w) in stems]
    if not words:
        return []
    spans: list[tuple[int, int]] = []
    for w in words:
        i = text.find(w)
        while i != -1:
            j = i + len(w)
            if _token_starts(text, i) and _token_ends(text, j):
                spans.append((i, j))
            i = text.find(w, i + 1)
    spans.sort()
    return [Match(i, j) for i, j in spans]


@lru_cache(maxsize=1)
def _tokens() -> re.Pattern[str]:
    """The tokenizer's expression with its group non-capturing: ``findall`` then returns
    whole tokens."""
    expression = _analyzer()[0].expression
    assert expression.pattern == TOKEN_PATTERN, expression.pattern  # what the rules assume
    return re.compile(TOKEN_PATTERN.replace("(\\.", "(?:\\."), expression.flags)


#: Whoosh's default tokenizer: runs of word characters (and ``*``), joined by single dots.
TOKEN_PATTERN = r"[\w\*]+(\.?[\w\*]+)*"
_WORD_CHAR = re.compile(r"[\w\*]")


def _token_starts(text: str, i: int) -> bool:
    """Whether a token of ``TOKEN_PATTERN`` starts at ``i`` (given a word character there):
    not inside a run of word characters, nor just after a dot that joins one."""
    if i == 0:
        return True
    before = text[i - 1]
    if _WORD_CHAR.match(before):
        return False
    return not (before == "." and i >= 2 and _WORD_CHAR.match(text, i - 2))


def _token_ends(text: str, j: int) -> bool:
    """Whether a token ends at ``j``: no word character, nor a dot and a word character,
    follows (the expression is greedy, so a token runs on through both)."""
    if j >= len(text):
        return True
    after = text[j]
    if _WORD_CHAR.match(after):
        return False
    return not (after == "." and _WORD_CHAR.match(text, j + 1))


def _window(text: str, matches: list[Match], max_chars: int) -> tuple[int, int]:
    """The ``max_chars`` window holding the most matches, snapped to word boundaries."""
    if not matches:
        start = 0
    else:
        # Matches are tokens in text order, so starts and ends both ascend: the matches inside
        # a window are a slice found by bisection (a loop over all pairs took seconds on a
        # long paragraph that repeats the query word).
        starts = [x.start for x in matches]
        ends = [x.end for x in matches]
        best, start = -1, 0
        for m in matches:
            s = max(0, m.start - LEAD_CHARS)
            count = max(0, bisect_right(ends, s + max_chars) - bisect_left(starts, s))
            if count > best:
                best, start = count, s
    end = min(len(text), start + max_chars)
    if end - start < max_chars:  # near the end: use the room for more lead
        start = max(0, end - max_chars)
    # Widen to whole words (by at most a word each side) rather than cut one, or a mark.
    if start > 0 and not text[start - 1].isspace():
        start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    if end < len(text) and not text[end].isspace():
        nxt = text.find(" ", end)
        end = nxt if nxt != -1 else len(text)
    return start, end


def make_snippet(
    text: str,
    stems: frozenset[str],
    max_chars: int = MAX_CHARS,
    semantic: tuple[int, int] | None = None,
) -> Snippet:
    """Mark the query's words in ``text``; trim long text to the window with most marks.

    ``semantic``: the ``[start, end)`` of the sentence that matched by meaning, marked (and
    the window put on it) only when no query word occurs in ``text``; a sentence longer than
    the window is marked as far as the window shows it.
    """
    matches = find_matches(text, stems)
    if not matches and semantic is not None and semantic[1] > semantic[0]:
        matches = [Match(semantic[0], semantic[1], SEMANTIC)]
    if len(text) <= max_chars:
        return Snippet(text, matches, 0, len(text), False)
    start, end = _window(text, matches, max_chars)
    prefix = ELLIPSIS + " " if start > 0 else ""
    suffix = " " + ELLIPSIS if end < len(text) else ""
    shift = len(prefix) - start
    kept = [
        Match(max(m.start, start) + shift, min(m.end, end) + shift, m.kind)
        for m in matches
        if (m.start >= start and m.end <= end)
        or (m.kind == SEMANTIC and m.start < end and m.end > start)
    ]
    return Snippet(prefix + text[start:end] + suffix, kept, start, end, True)
