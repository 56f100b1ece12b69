"""Semantic highlights: the sentence of a paragraph that matched the query by meaning.

A paragraph found only by its vector holds none of the query's words, so word marks leave it
bare and the reader cannot see why it is there. For such paragraphs the searcher marks the one
sentence nearest to the query vector, encoded by the query encoder already loaded (the same
model that ranked the paragraph). Only paragraphs of the page being returned that hold no query
word are encoded, and a paragraph of one sentence needs no encoding: it is marked whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

#: A sentence ends at . ! or ? (maybe followed by a closing quote or bracket), before
#: whitespace and a capital letter, digit or opening quote: "U.S. officials" and "3.5%" stay
#: whole, and so do most abbreviations followed by a lower-case word.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def sentences(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the sentences of ``text``, whitespace trimmed, in order."""
    spans = []
    at = 0
    for m in _BOUNDARY.finditer(text):
        spans.append((at, m.start() + len(m.group()) - len(m.group().lstrip("\"'”’)]"))))
        at = m.end()
    spans.append((at, len(text)))
    out = []
    for start, end in spans:
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > start + lead:
            out.append((start + lead, end - trail))
    return out


def nearest_sentences(
    texts: Sequence[str],
    query_vector: np.ndarray,
    encode: Callable[[Sequence[str]], np.ndarray],
) -> list[tuple[int, int] | None]:
    """For each text, the span of its sentence nearest to ``query_vector`` (cosine: vectors
    are unit length), None for a text with no sentence. All sentences of all texts that have
    more than one are encoded in one call."""
    split = [sentences(t) for t in texts]
    batch: list[str] = []
    owners: list[int] = []
    for i, (text, spans) in enumerate(zip(texts, split, strict=True)):
        if len(spans) > 1:
            batch += [text[s:e] for s, e in spans]
            owners += [i] * len(spans)
    scores = encode(batch) @ query_vector.reshape(-1) if batch else np.zeros(0)
    best: dict[int, tuple[float, int]] = {}
    nth: dict[int, int] = {}
    for owner, score in zip(owners, scores.tolist(), strict=True):
        j = nth.get(owner, 0)
        nth[owner] = j + 1
        if owner not in best or score > best[owner][0]:
            best[owner] = (score, j)
    out: list[tuple[int, int] | None] = []
    for i, spans in enumerate(split):
        if not spans:
            out.append(None)
        elif len(spans) == 1:
            out.append(spans[0])
        else:
            out.append(spans[best[i][1]])
    return out
