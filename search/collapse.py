"""Collapsing a result list to one hit per news story.

The indexer gives every article a story id (``indexer/stories.py``); copies and rewrites of
one story share it. A result page shows each story once: its representative is the member
that scored best for this query, and among members with equally good evidence (exact copies
score the same by BM25 and by cosine) the earliest published one, so the original outlet
rather than a later re-post stands for the story. The others are listed in ``also_in``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from newsearch.indexer.corpus.records import article_meta
from newsearch.indexer.docstore import StoredArticle
from newsearch.indexer.stores import DocumentReader

from .results import ArticleHit, StoryCopy

_TIE = 1e-6


def _evidence(hit: ArticleHit) -> tuple[float, float]:
    best = hit.best
    return (best.keyword_score or 0.0, best.vector_score or 0.0)


def _same_evidence(a: ArticleHit, b: ArticleHit) -> bool:
    return all(abs(x - y) <= _TIE for x, y in zip(_evidence(a), _evidence(b), strict=True))


def _date_key(date: str) -> str:
    return date or "9999"  # undated articles never win on date


def choose_representative(members: list[ArticleHit]) -> ArticleHit:
    """Best score; among those tied with it on evidence, the earliest date, then the id."""
    best = max(members, key=lambda h: h.score)
    tied = [h for h in members if _same_evidence(h, best)] or [best]
    return min(tied, key=lambda h: (_date_key(h.date), h.article_id))


#: A hit lists at most this many other articles of its story (``also_in_total`` says how
#: many there are). A wire corpus of templated reports can put thousands in one story.
MAX_ALSO_IN = 20


def collapse_stories(
    hits: list[ArticleHit],
    members: Mapping[str, list[StoredArticle]] | DocumentReader,
    k: int,
) -> list[ArticleHit]:
    """At most ``k`` hits, one per story, in the order of each story's best member.

    ``hits`` are articles best first; ``members`` maps story id -> all its articles in the
    index, or looks them up (``Docstore``): then only for the ``k`` stories shown, and only
    as many as ``also_in`` can list. Copies that were not retrieved, or were filtered out, are
    still listed in ``also_in`` (with ``score`` None) after the retrieved ones: the reader
    learns where else the story ran.
    """
    by_story: dict[str, list[ArticleHit]] = {}
    for hit in hits:
        by_story.setdefault(hit.story_id or hit.article_id, []).append(hit)
    # Most stories of a candidate list have one retrieved member: it is its representative.
    chosen = [
        (story, group[0] if len(group) == 1 else choose_representative(group))
        for story, group in by_story.items()
    ]
    # A tied representative may score a hair below its story's best member: keep the page
    # ordered by the scores it shows (a stable sort keeps the best-member order otherwise).
    chosen.sort(key=lambda sr: -sr[1].score)
    chosen = chosen[:k]
    stories = [story for story, _ in chosen]
    if isinstance(members, Mapping):
        found: Mapping[str, list[StoredArticle]] = members
        sizes = {s: len(members.get(s, [])) for s in stories}
    else:
        # The earliest MAX_ALSO_IN + 1 + (retrieved members) articles by date hold every
        # article that the full list would show first among those not retrieved.
        retrieved = max((len(by_story[s]) for s in stories), default=0)
        found = members.story_members(stories, limit=MAX_ALSO_IN + 1 + retrieved)
        sizes = dict(members.story_sizes(stories))
    out: list[ArticleHit] = []
    for rank, (story, rep) in enumerate(chosen, start=1):
        scored = {h.article_id: h.score for h in by_story[story]}
        others = [
            _copy(a, scored.get(a.id)) for a in found.get(story, []) if a.id != rep.article_id
        ]
        listed = {c.article_id for c in others}
        others += [
            _copy(h, h.score)  # retrieved, but past the articles looked up
            for h in by_story[story]
            if h.article_id != rep.article_id and h.article_id not in listed
        ]
        others.sort(key=lambda c: (c.score is None, -(c.score or 0.0), _date_key(c.date)))
        total = max(sizes.get(story, 0) - 1, len(others))
        out.append(replace(rep, also_in=others[:MAX_ALSO_IN], also_in_total=total, rank=rank))
    return out


def _copy(a: StoredArticle | ArticleHit, score: float | None) -> StoryCopy:
    stored = isinstance(a, StoredArticle)
    return StoryCopy(
        article_id=a.id if stored else a.article_id,
        score=score,
        note=a.story_note,
        **article_meta(a),
    )
